"""Segment benchmark: every top-level segment as a user sees it, against a hand-tuned query.

    python benchmarks/segments_bench.py [--customers 1000000] [--runs 3] [--database-url URL]

passcli: the wall time of `passcli segment export NAME --format jsonl -o FILE` minus that of
`passcli validate` (the start-up both pay), median of --runs; and the same export inside
this process (compile, query, write), which small segments need: for them the difference
of two process start-ups is mostly noise. Baseline: the hand-written
query for the same segment on its own tuned SQLite database built from the same files
(baseline_sqlite.py, after LIMITS.md), writing the same JSON lines, median of --runs; both
must list the same members in the same order. Goal (issue 4): every ratio within 1.5x.

It imports the data into a passcli store first (cached beside the data as passcli.db).

With --database-url postgresql+psycopg://USER@HOST:PORT/DB, both sides run on that server:
the passcli store is the database `passcli_bench` (imported by import_bench.py --keep, or
here when it holds no events yet), the baseline is baseline_postgres.py's database
`passcli_bench_baseline` (built from the files when missing), queried through psycopg on one
connection, as the in-process export reuses one pooled connection.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import baseline_postgres
import baseline_sqlite
import orjson
from common import (
    BASELINE_DATABASE,
    STORE_DATABASE,
    data_dir,
    database_exists,
    database_url,
    fresh_database,
    is_postgres,
    libpq_url,
    machine,
    run_passcli,
    server_settings,
)

from passcli import sampledata
from passcli.project import require_project
from passcli.scaffold import init_project
from passcli.segments.evaluate import MEMBER_COLUMNS, members_query, raw_rows
from passcli.segments.evaluate import member_ids as member_ids_query
from passcli.store import open_store, read_transaction
from passcli.timeutil import zone

SEGMENTS = (
    "pass-participants",
    "new-signups",
    "expires-soon",
    "no-redemptions-yet",
    "super-users",
    "high-ltv",
)


def export_in_process(engine: Any, segments: Any, name: str, path: Path) -> None:
    """What `segment export --format jsonl` does once the process has started: compile the
    segment, stream its members and write them."""
    query = members_query(
        member_ids_query(segments, name, sampledata.REFERENCE_NOW, zone(sampledata.TIMEZONE))
    )
    with read_transaction(engine) as conn, path.open("wb") as handle:
        for row in raw_rows(conn, query):
            handle.write(orjson.dumps(dict(zip(MEMBER_COLUMNS, row, strict=True))) + b"\n")


def member_ids(path: Path) -> list[str]:
    """The members' ids in file order (the baseline keeps phones as imported, unnormalised,
    so the lines themselves differ)."""
    with path.open("rb") as handle:
        return [orjson.loads(line)["id"] for line in handle]


def import_store(data: Path, project: Path, env: dict[str, str]) -> None:
    print("importing into a passcli store ...", flush=True)
    for name in sampledata.FILES:
        run = run_passcli(["import", name.split(".")[0], str(data / name)], env, project)
        if run.returncode not in (0, 1):
            raise SystemExit(f"{name}: {run.stderr}")
        print(f"  {name}: {run.seconds:.1f} s", flush=True)


def postgres_store_ready(url: str) -> bool:
    """The store was imported to the end: events (imported last) are in it."""
    import psycopg

    try:
        with psycopg.connect(libpq_url(url)) as conn:
            found = conn.execute("SELECT to_regclass('events')").fetchone()
            if not found or found[0] is None:
                return False
            return conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None
    except psycopg.OperationalError:
        return False


class HandSql:
    """The baseline's export on either backend."""

    def __init__(self, data: Path, server: str | None) -> None:
        self.server = server
        if server is None:
            self.db = data / "baseline.db"
            if not self.db.exists():
                print("building the hand-tuned baseline database ...", flush=True)
                print(f"  {baseline_sqlite.build(self.db, data):.1f} s", flush=True)
            return
        url = libpq_url(database_url(server, BASELINE_DATABASE))
        if not (database_exists(server, BASELINE_DATABASE) and baseline_postgres.built(url)):
            print("building the hand-tuned baseline database on PostgreSQL ...", flush=True)
            url = libpq_url(fresh_database(server, BASELINE_DATABASE))
            print(f"  {baseline_postgres.build(url, data):.1f} s", flush=True)
        self.conn = baseline_postgres.connect(url)

    def export(self, segment: str, bounds: dict[str, object], out: Path) -> int:
        if self.server is None:
            return baseline_sqlite.export(self.db, segment, bounds, out)
        return baseline_postgres.export(self.conn, segment, bounds, out)

    def close(self) -> None:
        if self.server is not None:
            self.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (postgresql+psycopg://...): the store is the database "
        f"{STORE_DATABASE} there, the baseline {BASELINE_DATABASE}; default SQLite",
    )
    parser.add_argument("--segments", nargs="+", default=list(SEGMENTS), help="only these segments")
    args = parser.parse_args()
    if args.database_url and not is_postgres(args.database_url):
        parser.error("--database-url takes a PostgreSQL server: postgresql+psycopg://...")
    data = data_dir(args.customers)
    project = data / "project"
    server = args.database_url or None
    store_url = (
        database_url(server, STORE_DATABASE) if server else f"sqlite:///{project / 'passcli.db'}"
    )
    env = {
        "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
        "PASSCLI_NOW": sampledata.REFERENCE_NOW.isoformat(),
        "PASSCLI_PROJECT_DIR": str(project),
        "PASSCLI_DATABASE_URL": store_url if server else "",
    }
    if server is None and not (project / "passcli.db").exists():
        init_project(project, force=True)
        import_store(data, project, env)
    elif server is not None and not postgres_store_ready(store_url):
        if not (project / "segments.yaml").exists():
            init_project(project, force=True)
        fresh_database(server, STORE_DATABASE)
        import_store(data, project, env)
    hand_sql = HandSql(data, server)
    bounds = baseline_sqlite.params(sampledata.REFERENCE_NOW, zone(sampledata.TIMEZONE))

    print(machine())
    if server is not None:
        print(server_settings(store_url))
    print(
        f"{'segment':<20} {'members':>9} {'passcli ms':>11} {'in-process':>11}"
        f" {'hand SQL ms':>12} {'ratio':>6} {'ratio in-process':>17}"
    )
    engine = open_store(store_url)
    segments = require_project(project).segments
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        startup = statistics.median(
            run_passcli(["validate"], env, project).seconds for _ in range(args.runs)
        )
        for segment in args.segments:
            ours = out / f"{segment}.passcli.jsonl"
            theirs = out / f"{segment}.hand.jsonl"
            passcli_times = []
            for _ in range(args.runs):
                run = run_passcli(
                    ["segment", "export", segment, "--format", "jsonl", "-o", str(ours)],
                    env,
                    project,
                )
                if run.returncode != 0:
                    raise SystemExit(run.stderr)
                passcli_times.append(run.seconds - startup)
            hand_times = []
            members = 0
            for _ in range(args.runs):
                started = time.perf_counter()
                members = hand_sql.export(segment, bounds, theirs)
                hand_times.append(time.perf_counter() - started)
            inside = []
            for _ in range(args.runs):
                started = time.perf_counter()
                export_in_process(engine, segments, segment, out / f"{segment}.core.jsonl")
                inside.append(time.perf_counter() - started)
            same = member_ids(ours) == member_ids(theirs)
            mine, hand = statistics.median(passcli_times), statistics.median(hand_times)
            core = statistics.median(inside)
            print(
                f"{segment:<20} {members:>9,} {mine * 1000:>11.0f} {core * 1000:>11.0f}"
                f" {hand * 1000:>12.0f} {mine / hand:>6.2f} {core / hand:>17.2f}"
                f"{'' if same else '  MISMATCH'}",
                flush=True,
            )
    engine.dispose()
    hand_sql.close()
    print(f"start-up (passcli validate), subtracted: {startup * 1000:.0f} ms")


if __name__ == "__main__":
    main()
