"""Journeys benchmark (issue 9): 100,000 customers in a journey with a wait step.

    python benchmarks/journeys_bench.py [--customers 100000]

A fresh SQLite project; the customers inserted straight into the store (all reachable by
email); journeys.yaml:

    news: entry everyone (every run-due), steps: wait_for Ping within 1 hour
          (on_timeout: continue), then send news-email

1. `passcli run-due` at T: everyone enters and stops at the wait (a process, timed).
2. The core `RunDue.run(now)` in-process at T+10..14 min, when nothing is due though every
   customer waits (median of 5). Goal: < 0.1 s.
3. `passcli run-due` at T+61 min: every wait has timed out; each customer is advanced to
   the send and the email goes to the outbox (a process, timed, start-up included). Goal:
   >= 2,000 customers advanced per second into the outbox.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import machine, run_passcli
from sqlalchemy import insert

from passcli.branding import Branding
from passcli.delivery.transports import Transports
from passcli.project import require_project
from passcli.scaffold import init_project
from passcli.scheduling.run_due import RunDue
from passcli.store import open_store
from passcli.store.schema import customers
from passcli.timeutil import zone

TIMEZONE = "America/Denver"
T = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
SEGMENTS = "segments:\n  everyone:\n    conditions:\n      - attribute: {name: id, op: exists}\n"
MESSAGES = """\
messages:
  news-email:
    segments: [everyone]
    channel: email
    subject: "News for you, {{ customerFirstName }}"
    body: |
      Hi {{ customerFirstName }}, new locations were added this week.
      Unsubscribe: {{ unsubscribeLink }}
"""
JOURNEYS = """\
journeys:
  news:
    entry: {segment: everyone}
    steps:
      - wait_for: {event: {name: Ping}, within: {hours: 1}, on_timeout: continue}
      - send: news-email
"""


def populate(project: Path, count: int) -> None:
    engine = open_store(f"sqlite:///{project / 'passcli.db'}")
    rows = [
        {
            "id": f"c{n:07d}",
            "email": f"c{n:07d}@example.com",
            "phone": None,
            "first_name": f"Name{n}",
            "last_name": "Bench",
            "timezone": TIMEZONE,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "email_opt_in": True,
            "sms_opt_in": False,
            "attributes": {},
        }
        for n in range(1, count + 1)
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(customers), rows[start : start + 10_000])
    engine.dispose()


class _Refuse:
    """Nothing may be sent when nothing is due."""

    def send(self, message: object) -> str:
        raise AssertionError("a transport was called")

    def close(self) -> None:
        return None


def nothing_due(project: Path) -> list[float]:
    engine = open_store(f"sqlite:///{project / 'passcli.db'}")
    secret = (project / ".env").read_text().split("PASSCLI_SECRET_KEY=")[1].split()[0]
    runner = RunDue(
        engine=engine,
        project=require_project(project),
        tz=zone(TIMEZONE),
        org_zone=TIMEZONE,
        branding=Branding(
            "Org", "https://example.com/{customer_id}", "https://example.com/u", secret
        ),
        transports=Transports.fixed(_Refuse(), _Refuse()),
        wall_clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
    )
    core = []
    for minute in range(10, 15):
        started = time.perf_counter()
        report = runner.run(T + timedelta(minutes=minute))
        core.append(time.perf_counter() - started)
        (journey,) = report.journeys
        assert journey["advanced"] == 0 and journey["entered"] == 0, journey
    engine.dispose()
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="passcli-journeys-bench-") as folder:
        project = Path(folder)
        init_project(project, force=True)
        (project / "segments.yaml").write_text(SEGMENTS)
        (project / "messages.yaml").write_text(MESSAGES)
        (project / "journeys.yaml").write_text(JOURNEYS)
        env = {
            "PASSCLI_TIMEZONE": TIMEZONE,
            "PASSCLI_PROJECT_DIR": str(project),
            "PASSCLI_DATABASE_URL": "",
            "PASSCLI_EMAIL_TRANSPORT": "outbox",
        }
        run_passcli(["validate"], env, project)
        populate(project, args.customers)

        entry = run_passcli(["run-due", "--json", "--now", T.isoformat()], env, project)
        if entry.returncode != 0:
            raise SystemExit(entry.stderr)
        (journey,) = json.loads(entry.stdout)["journeys"]
        print(
            f"entry: {journey['entered']:,} entered and waiting in {entry.seconds:.1f} s "
            f"(process), peak {entry.peak_rss_mb:.0f} MB"
        )

        core = nothing_due(project)
        print(
            f"nothing due, {args.customers:,} waiting: core call "
            f"{statistics.median(core) * 1000:.0f} ms (median of 5; "
            f"min {min(core) * 1000:.0f}, max {max(core) * 1000:.0f})"
        )

        later = (T + timedelta(minutes=61)).isoformat()
        advance = run_passcli(["run-due", "--json", "--now", later], env, project)
        if advance.returncode != 0:
            raise SystemExit(advance.stderr)
        (journey,) = json.loads(advance.stdout)["journeys"]
        files = len(list((project / "outbox" / "email").iterdir()))
        print(
            f"advance: {journey['advanced']:,} advanced, {journey['sent']:,} sent "
            f"({files:,} files) in {advance.seconds:.1f} s (process) = "
            f"{journey['advanced'] / advance.seconds:,.0f} customers/s, "
            f"peak {advance.peak_rss_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
