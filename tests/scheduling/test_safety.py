"""Safety of run-due (SPEC §6): concurrent processes, a killed run, and a long simulation.

(a) Four `python -m passcli run-due` processes at once against one store (the test's SQLite
    file or PostgreSQL schema, each process on its own connection), email over SMTP to a
    real aiosmtpd server on 127.0.0.1, SMS to the outbox: each recipient gets each due
    message exactly once.
(b) A run killed with SIGKILL while the SMTP server holds its message: the next run sends
    nothing twice and records the delivery as `unknown`; `--retry-unknown` resends it once.
(c) 120 simulated days of run-due over customers in Denver, Berlin and Sydney, across their
    DST changes, compared with a plain-Python model of the schedules.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from passcli.store import read_transaction
from passcli.store.schema import customers, deliveries, runs
from passcli.timeutil import iso_utc, zone

from .conftest import (
    Inbox,
    World,
    customer,
    email_message,
    example_project,
    wall_instant,
    write_project,
)

# -- (c) a 120-day simulation -----------------------------------------------------------------

ORG = "America/Denver"
SIM_START = datetime(2026, 2, 20, tzinfo=UTC)
SIM_DAYS = 120  # through Denver's (03-08) and Berlin's (03-29) spring-forward, Sydney's
#                 fall-back (04-05): 02:30 does not exist twice and happens twice once.
TICK = timedelta(minutes=15)
GRACE = timedelta(hours=24)
ZONES = {
    "America/Denver": ["den1", "den2", "den3"],
    "Europe/Berlin": ["ber1", "ber2", "ber3"],
    "Australia/Sydney": ["syd1", "syd2", "syd3"],
    None: ["nozone"],  # due in the organisation's zone
}
SIM_SEGMENTS = {
    "everyone": {"conditions": [{"attribute": {"name": "id", "op": "exists"}}]},
    "abroad": {
        "conditions": [
            {
                "attribute": {
                    "name": "timezone",
                    "op": "in",
                    "value": ["Europe/Berlin", "Australia/Sydney"],
                }
            }
        ]
    },
}
# 02:30 is the hour that DST changes skip or repeat, in all three zones.
SIM_MESSAGES = {
    "nightly": email_message(
        {"every": "1 day", "start": "2026-02-20 02:30"}, once_per_customer=False
    ),
    "local-nightly": email_message(
        {"every": "1 day", "start": "2026-02-20 02:30", "local_time": True},
        once_per_customer=False,
    ),
    "denver-gap-sale": email_message({"at": "2026-03-08 02:30"}, segments=["abroad"]),
    "local-repeat-sale": email_message({"at": "2026-04-05 02:30", "local_time": True}),
}


@dataclass(frozen=True)
class Expected:
    message: str
    occurrence: str
    customer_id: str
    due: datetime
    local_day: str  # the day the customer should get it on, in the zone it is due in


def model(end: datetime) -> list[Expected]:
    """Every (message, occurrence, customer) the schedules owe by `end`, from SPEC §4 alone:
    wall times resolved in the organisation's zone, or each customer's for local time."""
    org = zone(ORG)
    owed: list[Expected] = []
    days = [datetime(2026, 2, 20, 2, 30) + timedelta(days=k) for k in range(SIM_DAYS + 1)]
    for tz_name, ids in ZONES.items():
        own = zone(tz_name or ORG)
        for cid in ids:
            for wall in days:
                due = wall_instant(wall, org)
                owed.append(Expected("nightly", iso_utc(due), cid, due, wall.date().isoformat()))
                due = wall_instant(wall, own)
                label = wall.strftime("%Y-%m-%dT%H:%M")
                owed.append(Expected("local-nightly", label, cid, due, wall.date().isoformat()))
            sale = datetime(2026, 4, 5, 2, 30)
            due = wall_instant(sale, own)
            owed.append(Expected("local-repeat-sale", "2026-04-05T02:30", cid, due, "2026-04-05"))
            if tz_name in ("Europe/Berlin", "Australia/Sydney"):
                due = wall_instant(datetime(2026, 3, 8, 2, 30), org)
                owed.append(Expected("denver-gap-sale", iso_utc(due), cid, due, "2026-03-08"))
    return [e for e in owed if e.due <= end]


def tick_times(owed: list[Expected], end: datetime) -> list[datetime]:
    """Quarter hours of the simulated cron: every quarter hour from 15 minutes before each
    due instant to two hours after it, and every hour on the hour in between.

    All 11,520 quarter hours of 120 days take about 75 s here (a run-due costs 5-7 ms with
    four scheduled messages), over this test's budget; the quarter hours left out are the
    idle ones away from any due instant, where a run can only repeat the hourly runs'
    answer. Each due instant still sees a run at the first quarter hour at or after it and
    eight more in the next two hours, then a run every hour; the model uses the same ticks.
    """
    grid: set[datetime] = set()
    steps = int((end - SIM_START) / TICK)
    for step in range(0, steps + 1, 4):
        grid.add(SIM_START + step * TICK)
    for item in {e.due for e in owed}:
        first = SIM_START + TICK * -(-(item - SIM_START) // TICK)  # ceiling to the grid
        for k in range(-1, 9):
            when = first + k * TICK
            if SIM_START <= when <= end:
                grid.add(when)
    return sorted(grid)


def first_tick_at_or_after(ticks: list[datetime], due: datetime) -> datetime | None:
    for tick in ticks:
        if tick >= due:
            return tick
    return None


@pytest.mark.slow
def test_120_days_of_run_due_every_quarter_hour_match_the_schedule_model(
    tmp_path: Path, engine: Engine
) -> None:
    world = World(tmp_path / "sim", engine, org_zone=ORG)
    world.write(SIM_MESSAGES, SIM_SEGMENTS)
    world.add(*(customer(cid, timezone=tz) for tz, ids in ZONES.items() for cid in ids))
    end = SIM_START + timedelta(days=SIM_DAYS)
    owed = model(end)
    ticks = tick_times(owed, end)
    runner = world.runner()

    missed: list[dict[str, str]] = []
    for now in ticks:
        report = runner.run(now)
        missed += report.missed

    sent = [
        (m.key, m.date)
        for m in world.transport.sent  # key: scheduled:<message>:<occurrence>-<customer>
    ]
    keys = Counter(key for key, _ in sent)
    assert [key for key, count in keys.items() if count > 1] == []  # 0 duplicates
    expected = {}
    for e in owed:
        tick = first_tick_at_or_after(ticks, e.due)
        assert tick is not None and tick - e.due <= GRACE
        expected[f"scheduled:{e.message}:{e.occurrence}-{e.customer_id}"] = (tick, e)
    got = dict(sent)
    assert sorted(set(got) - set(expected)) == []  # nothing unexpected
    assert sorted(set(expected) - set(got)) == []  # nothing owed left out
    assert {k: got[k] for k in expected} == {k: tick for k, (tick, _) in expected.items()}
    wrong_day = [
        (key, got[key])
        for key, (_, e) in expected.items()
        if got[key].astimezone(zone(tz_of(e))).date().isoformat() != e.local_day
    ]
    assert wrong_day == []  # 0 wrong-day sends
    assert missed == []
    assert len(got) == len(owed) > 2 * SIM_DAYS * 10
    with read_transaction(engine) as conn:
        statuses = Counter(conn.execute(select(deliveries.c.status)).scalars())
    assert statuses == {"sent": len(owed)}


def tz_of(expected: Expected) -> str:
    """The zone a send is due in: the customer's for local time, else the organisation's."""
    if not expected.message.startswith("local"):
        return ORG
    return next((tz or ORG) for tz, ids in ZONES.items() if expected.customer_id in ids)


def test_model_puts_the_dst_edge_cases_where_spec_4_says() -> None:
    """The model itself, on the nights that matter (a wrong model would pass anything)."""
    owed = {
        (e.message, e.occurrence, e.customer_id): e.due
        for e in model(SIM_START + timedelta(days=SIM_DAYS))
    }

    # Denver springs forward on 03-08: 02:30 does not exist, 03:30 MDT is 09:30Z.
    assert owed[("nightly", "2026-03-08T09:30:00Z", "ber1")] == datetime(
        2026, 3, 8, 9, 30, tzinfo=UTC
    )
    assert ("nightly", "2026-03-09T08:30:00Z", "ber1") in owed
    # Berlin springs forward on 03-29: its local 02:30 becomes 03:30 CEST, 01:30Z.
    assert owed[("local-nightly", "2026-03-29T02:30", "ber1")] == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # Sydney falls back on 04-05: the first 02:30 (AEDT) is 15:30Z on the 4th.
    assert owed[("local-repeat-sale", "2026-04-05T02:30", "syd1")] == datetime(
        2026, 4, 4, 15, 30, tzinfo=UTC
    )
    assert owed[("local-nightly", "2026-04-06T02:30", "syd1")] == datetime(
        2026, 4, 5, 16, 30, tzinfo=UTC
    )
    # No timezone: the organisation's.
    assert owed[("local-nightly", "2026-03-08T02:30", "nozone")] == datetime(
        2026, 3, 8, 9, 30, tzinfo=UTC
    )
    assert ("denver-gap-sale", "2026-03-08T09:30:00Z", "den1") not in owed


# -- a real SMTP server and real processes -----------------------------------------------------


@dataclass
class Site:
    """A project on disk over the test's store, for `python -m passcli` processes: each
    process opens its own connections to `url` (a SQLite file or a PostgreSQL schema)."""

    directory: Path
    url: str
    engine: Engine
    port: int

    def env(self, now: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSCLI_")}
        env.update(
            PASSCLI_PROJECT_DIR=str(self.directory),
            PASSCLI_DATABASE_URL=self.url,
            PASSCLI_TIMEZONE="America/Denver",
            PASSCLI_NOW=now,
            PASSCLI_EMAIL_TRANSPORT="smtp",
            PASSCLI_SMTP_HOST="127.0.0.1",
            PASSCLI_SMTP_PORT=str(self.port),
            PASSCLI_EMAIL_FROM="news@passes.example",
            PASSCLI_SMS_TRANSPORT="outbox",
            **extra,
        )
        return env

    def start(self, now: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "passcli", *args],
            cwd=self.directory,
            env=self.env(now),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, now: str, *args: str) -> tuple[int, dict[str, Any], str]:
        """Run a command to completion; (exit code, the --json document, stderr)."""
        process = self.start(now, *args, "--json")
        stdout, stderr = process.communicate(timeout=120)
        return process.returncode, json.loads(stdout) if stdout.strip() else {}, stderr

    def deliveries(self) -> list[dict[str, Any]]:
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(deliveries).order_by(deliveries.c.id))
            return [dict(row._mapping) for row in rows]


@pytest.fixture
def example_site(tmp_path: Path, inbox: Inbox, database_url: str, example_engine: Engine) -> Site:
    directory = tmp_path / "example"
    example_project(directory)
    return Site(directory, database_url, example_engine, inbox.port)


def sent_counts(documents: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    for document in documents:
        for run in document["runs"]:
            for channel, n in run["sent"].items():
                counts[(run["message"], channel)] += n
    return {key: n for key, n in counts.items() if n}


@pytest.mark.slow
def test_four_run_due_processes_at_once_send_each_due_message_exactly_once(
    example_site: Site, inbox: Inbox
) -> None:
    from .test_run_due import DAY_1, DAY_1_SENDS

    processes = [example_site.start(DAY_1, "run-due", "--json") for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in processes]

    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in outputs]
    documents = [json.loads(out) for out, _ in outputs]
    ledger = example_site.deliveries()
    address = {(row["message"], row["customer_id"]): row["address"] for row in ledger}
    subjects = {
        "expiration-reminder": "Your pass is almost up, but there's still time to explore!",
        "top-explorer-survey": "Thanks for being a top explorer! We'd love your feedback",
    }
    expected_email = Counter(
        (address[(message, cid)], subjects[message])
        for (message, _), ids in DAY_1_SENDS.items()
        if message in subjects
        for cid in ids
    )
    assert inbox.count() == expected_email  # each (recipient, subject) exactly once
    assert len(inbox.accepted) == 27
    # Between them the four runs sent each message's audience once, whoever claimed it.
    assert sent_counts(documents) == {
        ("welcome-2-day", "sms"): 1,
        ("expiration-reminder", "email"): 10,
        ("start-checking-in", "sms"): 7,
        ("top-explorer-survey", "email"): 17,
    }
    assert Counter(row["status"] for row in ledger) == {"sent": 35}
    sms_files = sorted(p.name for p in (example_site.directory / "outbox" / "sms").iterdir())
    assert len(sms_files) == 8
    with read_transaction(example_site.engine) as conn:
        leases = conn.execute(select(runs.c.command, runs.c.finished_at)).all()
    assert len(leases) == 4 and all(finished is not None for _, finished in leases)


@pytest.fixture
def small_site(tmp_path: Path, inbox: Inbox, database_url: str, engine: Engine) -> Site:
    """Three customers and one email message due at 09:00 on 2026-11-22 (Denver)."""
    directory = tmp_path / "small"
    write_project(directory, {"news": email_message({"at": "2026-11-22 09:00"})})
    site = Site(directory, database_url, engine, inbox.port)
    with site.engine.begin() as conn:
        conn.execute(insert(customers), [customer(cid) for cid in ("a", "b", "c")])
    return site


def kill_while_held(site: Site, inbox: Inbox, address: str) -> None:
    """Start run-due, wait until the SMTP server holds its message to `address`, SIGKILL."""
    inbox.hold = address
    process = site.start("2026-11-22T09:00:00-07:00", "run-due")
    try:
        assert inbox.holding.wait(60), "the run never reached the SMTP server"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    inbox.release.set()
    # The dead run renewed its lease every 5 s until the kill; a lease expires 60 s of wall
    # time after the last renewal. Rather than wait a minute, age the dead run's heartbeat,
    # which is exactly what a minute of silence would have left in the store.
    with site.engine.begin() as conn:
        aged = conn.execute(
            update(runs)
            .where(runs.c.finished_at.is_(None))
            .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    assert aged.rowcount == 1


@pytest.mark.slow
def test_killed_run_is_recorded_unknown_and_resent_once_only_when_asked(
    small_site: Site, inbox: Inbox
) -> None:
    write_project(
        small_site.directory,
        {"news": email_message({"at": "2026-11-22 09:00"}, segments=["only-a"])},
        {"only-a": {"conditions": [{"attribute": {"name": "id", "op": "equals", "value": "a"}}]}},
    )
    kill_while_held(small_site, inbox, "a@example.com")
    assert [m["To"] for m in inbox.held] == ["a@example.com"]

    code, after, stderr = small_site.run("2026-11-22T09:01:00-07:00", "run-due")

    assert code == 0, stderr
    assert [(r["message"], sum(r["sent"].values())) for r in after["runs"]] == [("news", 0)]
    assert inbox.accepted == []  # nothing sent twice
    assert [(d["customer_id"], d["status"]) for d in small_site.deliveries()] == [("a", "unknown")]
    code, log, _ = small_site.run("2026-11-22T09:01:00-07:00", "log")
    assert code == 0
    assert [(d["customer_id"], d["status"]) for d in log["deliveries"]] == [("a", "unknown")]

    code, retried, stderr = small_site.run(
        "2026-11-22T09:02:00-07:00", "run-due", "--retry-unknown"
    )

    assert code == 0, stderr
    assert [sum(r["sent"].values()) for r in retried["runs"]] == [1]
    assert inbox.count() == {("a@example.com", "Hello A"): 1}
    assert [(d["status"], d["attempts"]) for d in small_site.deliveries()] == [("sent", 2)]

    code, again, _ = small_site.run("2026-11-22T09:03:00-07:00", "run-due", "--retry-unknown")

    assert code == 0 and again["runs"] == []
    assert len(inbox.accepted) == 1


@pytest.mark.slow
def test_killed_run_leaves_only_the_message_in_flight_unknown(
    small_site: Site, inbox: Inbox
) -> None:
    kill_while_held(small_site, inbox, "a@example.com")

    code, after, stderr = small_site.run("2026-11-22T09:01:00-07:00", "run-due")

    assert code == 0, stderr
    assert inbox.count() == {("b@example.com", "Hello B"): 1, ("c@example.com", "Hello C"): 1}
    assert [(d["customer_id"], d["status"]) for d in small_site.deliveries()] == [
        ("a", "unknown"),
        ("b", "sent"),
        ("c", "sent"),
    ]
