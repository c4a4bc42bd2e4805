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


# Runs passcli's entry point, then reports this process's own peak RSS on fd 3's stand-in:
# a file named by PASSCLI_BENCH_RSS, so the figure is per command, not the maximum so far.
WRAPPER = """
import atexit, os, resource
atexit.register(lambda: open(os.environ["PASSCLI_BENCH_RSS"], "w").write(
    str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
from passcli.cli.app import main
main()
"""


def run_passcli(args: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run passcli ARGS in a child process: wall time and the child's own peak RSS."""
    import tempfile

    rss_file = Path(tempfile.mkstemp(prefix="passcli-rss-")[1])
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=cwd,
        env={**os.environ, **env, "PASSCLI_BENCH_RSS": str(rss_file)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    text = rss_file.read_text().strip()
    rss_file.unlink()
    peak = int(text) / 1024 if text else 0.0
    return Run(seconds, peak, child.returncode, stdout, stderr)


def machine() -> str:
    return (
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
