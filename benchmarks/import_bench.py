"""Import benchmark: the LIMITS.md volume through `passcli import`, one process per file.

    python benchmarks/import_bench.py [--customers 1000000] [--database-url URL]

Generates the example data at that size (1M customers: 1.5M purchases, 5M redemptions, 5M
events, about 1.4 GB; cached under benchmarks/data/), imports the five files in order into a
fresh store, and prints rows per second per kind, the total, and the peak memory of each
import process. Goal (issue 3): the sum under 3 minutes on 2 cores, peak memory under 500 MB.

The store is a SQLite file in a temporary folder (benchmarks/data/cN/project/passcli.db with
--keep), or, with --database-url postgresql+psycopg://USER@HOST:PORT/DB, the database
`passcli_bench` on that server, dropped and created afresh (the URL's own database is only
used to connect; dropped again at the end unless --keep, which leaves it for
segments_bench.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import (
    STORE_DATABASE,
    data_dir,
    database_size,
    drop_database,
    fresh_database,
    is_postgres,
    machine,
    run_passcli,
    server_settings,
)

from passcli import sampledata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (postgresql+psycopg://...): import into a fresh database "
        f"{STORE_DATABASE} there; default SQLite",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="import into benchmarks/data/cN/project (replacing its store) and keep it, for "
        "segments_bench.py and run_due_bench.py",
    )
    args = parser.parse_args()
    data = data_dir(args.customers)
    with tempfile.TemporaryDirectory(prefix="passcli-import-bench-") as folder:
        project = Path(folder)
        if args.keep:
            project = data / "project"
            project.mkdir(exist_ok=True)
            if not is_postgres(args.database_url):
                for stale in project.glob("passcli.db*"):
                    stale.unlink()
        if is_postgres(args.database_url):
            url = fresh_database(args.database_url, STORE_DATABASE)
        else:
            url = args.database_url or f"sqlite:///{project / 'passcli.db'}"
        env = {
            "PASSCLI_DATABASE_URL": url,
            "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
            "PASSCLI_NOW": sampledata.REFERENCE_NOW.isoformat(),
        }
        init = run_passcli(["init", str(project), "--force"], env, project)
        if init.returncode != 0:
            raise SystemExit(init.stderr)
        print(machine())
        if is_postgres(url):
            print(server_settings(url))
        print(f"{'file':<16} {'rows':>11} {'seconds':>9} {'rows/s':>10} {'peak MB':>8}")
        total_rows = 0
        total_seconds = 0.0
        peak = 0.0
        for name in sampledata.FILES:
            kind = name.split(".")[0]
            run = run_passcli(["import", kind, str(data / name), "--json"], env, project)
            if run.returncode not in (0, 1):
                raise SystemExit(f"{name}: {run.stderr}")
            report = json.loads(run.stdout)
            rows = report["inserted"] + report["updated"] + report["skipped"] + report["rejected"]
            total_rows += rows
            total_seconds += run.seconds
            peak = max(peak, run.peak_rss_mb)
            print(
                f"{name:<16} {rows:>11,} {run.seconds:>9.1f} {rows / run.seconds:>10,.0f}"
                f" {run.peak_rss_mb:>8.0f}",
                flush=True,
            )
        print(
            f"{'total':<16} {total_rows:>11,} {total_seconds:>9.1f}"
            f" {total_rows / total_seconds:>10,.0f} {peak:>8.0f}"
        )
        if url.startswith("sqlite:///"):
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
            print(f"store size: {size / 2**30:.2f} GiB")
        elif is_postgres(url):
            print(f"store size: {database_size(url) / 2**30:.2f} GiB")
            if not args.keep:
                drop_database(url, STORE_DATABASE)


if __name__ == "__main__":
    main()
