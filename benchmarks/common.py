"""Helpers shared by the benchmark scripts: data generation, timing child processes, and
databases of their own on a PostgreSQL server (--database-url)."""

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


# -- PostgreSQL ---------------------------------------------------------------------------------

STORE_DATABASE = "passcli_bench"  # the passcli store of import_bench.py and segments_bench.py
BASELINE_DATABASE = "passcli_bench_baseline"  # baseline_postgres.py's hand-tuned database


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith("postgresql")


def database_url(server: str, name: str) -> str:
    """The SQLAlchemy URL of database `name` on the server of `server` (any of its databases)."""
    from sqlalchemy.engine import make_url

    return make_url(server).set(database=name).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same database as a libpq URI, for psycopg.connect."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(server: str, statements: list[str]) -> list[object]:
    """Run statements on the server's `postgres` database, outside any transaction (CREATE
    and DROP DATABASE need that); the first column of each statement's first row."""
    import psycopg

    results: list[object] = []
    with psycopg.connect(libpq_url(database_url(server, "postgres")), autocommit=True) as conn:
        for statement in statements:
            cursor = conn.execute(statement.encode())
            row = cursor.fetchone() if cursor.description else None
            results.append(row[0] if row else None)
    return results


def fresh_database(server: str, name: str) -> str:
    """Drop database `name` on that server if it exists, create it empty; its URL."""
    _admin(server, [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"])
    return database_url(server, name)


def drop_database(server: str, name: str) -> None:
    _admin(server, [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


def database_exists(server: str, name: str) -> bool:
    found = _admin(server, [f"SELECT 1 FROM pg_database WHERE datname = '{name}'"])
    return found[0] is not None


def database_size(url: str) -> int:
    """Bytes on disk of the database at `url`."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def server_settings(url: str) -> str:
    """The server's version and the settings that matter for these figures, one line."""
    import psycopg

    names = (
        "fsync",
        "synchronous_commit",
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "max_wal_size",
        "effective_cache_size",
        "random_page_cost",
        "max_parallel_workers_per_gather",
        "jit",
        "lc_collate",
    )
    with psycopg.connect(libpq_url(url)) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        values = [conn.execute(f"SHOW {n}".encode()).fetchone() for n in names]
    shown = ", ".join(f"{n}={v[0] if v else '?'}" for n, v in zip(names, values, strict=True))
    return f"PostgreSQL {version[0] if version else '?'}: {shown}"
