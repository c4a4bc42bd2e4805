"""Send benchmark: one message to 10,000 and 100,000 recipients, dry run and outbox, with
one worker and four.

    python benchmarks/send_bench.py [--customers 120000] [--database-url URL] [--repeat N]
        [--policy none|caps|caps+history] [--limit N ...] [--workers N ...]

Builds a store from the example generator (customers only; about 85% can receive email),
a segment of everyone reachable by email and one templated email with a pass, then times
`passcli send NAME --dry-run --json` and `passcli send NAME --yes --workers N --json`
(outbox; N > 1 is N worker processes) as processes, with --limit 10000 and 100000,
printing messages per second (start-up included), the CPU seconds of passcli (its worker
processes included) and, on PostgreSQL, of the server processes serving this database,
and each passcli process's peak memory (the workers' own memory is not in it). With
--repeat N each case runs N times (each a new occurrence) and the median run is printed.
The store is a SQLite file in a temporary project, or, with --database-url, a database
`passcli_send_bench` made afresh on that PostgreSQL server.

--policy measures the sending policy (see sending_policy.py): the message is tagged promo,
`caps` adds two frequency caps in policy.yaml, `caps+history` also seeds two sends per
customer in the week before, and every run starts from the same ledger (`none` too, so that
the three compare). --limit and --workers (each may be repeated) keep only those cases. Each
row ends with the 1-minute load average after its runs.

Goals: dry run >= 5,000/s, the same peak memory at 10k and 100k (issue 5); one worker
>= 5,000/s into the outbox, four workers on PostgreSQL >= 1.5x one (issue 7).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import data_dir, fresh_database, machine, run_passcli, server_settings
from sending_policy import POLICIES, Ledger, tag_promo, write_policy

from passcli import sampledata
from passcli.scaffold import init_project

SEGMENTS = """\
segments:
  reachable:
    conditions:
      - subscribed: {channel: email}
"""
MESSAGES = """\
messages:
  news:
    segments: [reachable]
    channel: email
    subject: "News for you, {{ customerFirstName }}"
    pass: explorer-pass
    once_per_customer: false
    body: |
      Hi {{ customerFirstName }},
      New locations and exclusive offers have just been added to your {{ passName }}.
      If you're looking to explore more spots, unlock special deals, or try something new,
      we've got you covered! You have {{ pointsEarned }} points.
      View your pass: {{ dashboardUrl }}
      Unsubscribe: {{ unsubscribeLink }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=120_000)
    parser.add_argument(
        "--database-url", help="a PostgreSQL server (postgresql+psycopg://...); default SQLite"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (median shown)")
    parser.add_argument("--policy", choices=POLICIES, help="a sending policy to measure")
    parser.add_argument("--limit", type=int, action="append", help="only cases with this limit")
    parser.add_argument(
        "--workers", type=int, action="append", help="only cases with this many workers"
    )
    args = parser.parse_args()
    data = data_dir(args.customers)
    with tempfile.TemporaryDirectory(prefix="passcli-send-bench-") as folder:
        project = Path(folder)
        init_project(project, force=True)
        (project / "segments.yaml").write_text(SEGMENTS)
        (project / "messages.yaml").write_text(
            tag_promo(MESSAGES, "news") if args.policy else MESSAGES
        )
        if args.policy:
            write_policy(project, args.policy)
        env = {
            "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
            "PASSCLI_DATABASE_URL": (
                fresh_database(args.database_url, DATABASE) if args.database_url else ""
            ),
            "PASSCLI_PROJECT_DIR": str(project),
        }
        for name in ("items.csv", "customers.csv", "purchases.csv", "redemptions.csv"):
            run = run_passcli(["import", name.split(".")[0], str(data / name)], env, project)
            if run.returncode != 0:
                raise SystemExit(run.stderr)
        print(machine())
        if args.database_url:
            print(server_settings(env["PASSCLI_DATABASE_URL"]))
        else:
            print("store: SQLite")
        ledger = None
        if args.policy:
            ledger = Ledger(env["PASSCLI_DATABASE_URL"] or f"sqlite:///{project / 'passcli.db'}")
            seeded = ledger.seed_history(run_time(0)) if args.policy == "caps+history" else 0
            print(f"policy: {args.policy}, {seeded:,} deliveries of history")
        print(
            f"{'mode':<8} {'workers':>7} {'limit':>7} {'sent':>7} {'seconds':>8} {'msgs/s':>8}"
            f" {'cpu s':>6} {'db cpu s':>8} {'peak MB':>8}"
        )
        cases = [
            (mode, workers, limit)
            for mode, workers, limit in CASES
            if (not args.limit or limit in args.limit)
            and (not args.workers or workers in args.workers)
        ]
        minute = 0
        for mode, workers, limit in cases:
            results = []
            for _ in range(args.repeat):
                minute += 1  # a new manual occurrence each time
                now = run_time(minute).isoformat()
                results.append(send(project, env, mode, workers, limit, now, args.database_url))
                if ledger:
                    ledger.reset()
            sent, seconds, cpu, db_cpu, peak = sorted(results, key=lambda r: r[1])[
                len(results) // 2
            ]
            spread = f"  (runs: {', '.join(f'{r[1]:.1f}' for r in results)} s)"
            print(
                f"{mode:<8} {workers:>7} {limit:>7,} {sent:>7,} {seconds:>8.1f}"
                f" {sent / seconds:>8,.0f} {cpu:>6.1f} {db_cpu:>8.1f} {peak:>8.0f}"
                + (spread if args.repeat > 1 else "")
                + f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        if args.repeat > 1:
            print(f"each row: the median of {args.repeat} runs by time")
        if ledger:
            ledger.close()


CASES = [
    ("dry-run", 1, 10_000),
    ("dry-run", 1, 100_000),
    ("outbox", 1, 10_000),
    ("outbox", 4, 10_000),
    ("outbox", 1, 100_000),
    ("outbox", 4, 100_000),
]


def run_time(minute: int) -> datetime:
    """The `--now` of the run numbered `minute` (1, 2, ...): a new manual occurrence each."""
    return datetime(2026, 11, 22, 10, tzinfo=timezone(timedelta(hours=-7))) + timedelta(
        minutes=minute
    )


DATABASE = "passcli_send_bench"


def send(
    project: Path,
    env: dict[str, str],
    mode: str,
    workers: int,
    limit: int,
    now: str,
    server: str | None,
) -> tuple[int, float, float, float, float]:
    """One `passcli send`: (sent, seconds, passcli CPU seconds, server CPU seconds, peak MB)."""
    flags = ["--dry-run"] if mode == "dry-run" else ["--yes", "--workers", str(workers)]
    shutil.rmtree(project / "outbox", ignore_errors=True)  # the same disk work each run
    os.sync()  # and none of the previous run's left to write during this one
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = ServerCpu(DATABASE) if server else None
    run = run_passcli(
        ["send", "news", *flags, "--limit", str(limit), "--json", "--now", now], env, project
    )
    db_cpu = server_cpu.stop() if server_cpu else 0.0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sent = sum(json.loads(run.stdout)["sent"].values())
    return sent, run.seconds, cpu, db_cpu, run.peak_rss_mb


class ServerCpu:
    """CPU seconds of the PostgreSQL server processes connected to one database, read from
    /proc (Linux, same machine, permission to read them) while a run lasts; 0 otherwise."""

    def __init__(self, database: str) -> None:
        self.title = f" {database} ".encode()
        self.tick = os.sysconf("SC_CLK_TCK")
        self.seen: dict[str, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while True:
            self._sample()
            if self.done.wait(0.05):
                self._sample()
                return

    def _sample(self) -> None:
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                title = (entry / "cmdline").read_bytes()
                if not title.startswith(b"postgres: ") or self.title not in title:
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.seen[entry.name] = (int(fields[11]) + int(fields[12])) / self.tick

    def stop(self) -> float:
        time.sleep(0.1)  # the last backends' final statements
        self.done.set()
        self.thread.join()
        return sum(self.seen.values())


if __name__ == "__main__":
    main()
