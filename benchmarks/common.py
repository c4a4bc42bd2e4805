"""Helpers shared by the benchmark scripts: data generation, timing child processes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from passcli import sampledata

BENCH_DIR = Path(__file__).resolve().parent
DATA_ROOT = BENCH_DIR / "data"


def data_dir(customers: int) -> Path:
    """The generated example data for this size, generating it on first use."""
    folder = DATA_ROOT / f"c{customers}"
    if not (folder / "events.jsonl").exists():
        print(f"generating {customers:,} customers into {folder} ...", flush=True)
        started = time.perf_counter()
        counts = sampledata.generate(folder, customers=customers)
        print(f"  {sum(counts.values()):,} rows in {time.perf_counter() - started:.1f} s")
    return folder


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_passcli(args: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run `python -m passcli ARGS`, returning wall time and the child's own peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "passcli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    # ru_maxrss of this child alone: wait4 was already reaped by communicate, so read it from
    # the children's cumulative maximum instead when needed (see measure_peak).
    return Run(seconds, _peak_children_mb(), child.returncode, stdout, stderr)


def _peak_children_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def machine() -> str:
    return (
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
