"""Random journeys over random event streams, advanced by in-process run-dues at random
times, some of them crashing mid-send: no step is ever sent twice for one entry (SPEC §6, §7).

The ledger is checked (one delivery per send key, which names journey, step and entry
number, and customer) and so is the transport itself (each delivery handed to it once).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update

from passcli.delivery.base import Outgoing
from passcli.delivery.transports import Transports
from passcli.project import require_project
from passcli.scheduling.run_due import RunDue
from passcli.store import open_store, read_transaction
from passcli.store.schema import customers, deliveries, events, journey_entries, runs
from passcli.timeutil import zone
from scheduling.conftest import BRANDING, SECRET, customer, no_sleep, real_wall_clock

EVERYONE = {"everyone": {"conditions": [{"attribute": {"name": "id", "op": "exists"}}]}}
START = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
PEOPLE = ["a", "b", "c", "d"]
MESSAGES = {
    "m-email": {"segments": ["everyone"], "channel": "email", "subject": "Hi", "body": "Hi"},
    "m-sms": {"segments": ["everyone"], "channel": "sms", "body": "Hi {{ customerFirstName }}"},
}


class Crash(BaseException):
    """The process dying in the middle of a send (not an error anything catches)."""


@dataclass
class Transport:
    """Both channels; raises Crash at the `crash_at`-th call (that message is not sent)."""

    sent: list[str]
    crash_at: int | None = None
    calls: int = 0

    def send(self, message: Outgoing) -> str:
        self.calls += 1
        if self.calls == self.crash_at:
            raise Crash
        self.sent.append(message.key)
        return f"fake-{len(self.sent)}"

    def close(self) -> None:
        return None


def step_strategy() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from([{"send": "m-email"}, {"send": "m-sms"}]),
        st.builds(lambda m: {"delay": {"minutes": m}}, st.integers(1, 180)),
        st.builds(
            lambda h, t: {
                "wait_for": {"event": {"name": "Ping"}, "within": {"hours": h}, "on_timeout": t}
            },
            st.integers(1, 12),
            st.sampled_from(["end", "continue"]),
        ),
    )


journeys = st.fixed_dictionaries(
    {
        "entry": st.one_of(
            st.just({"segment": "everyone"}),
            st.just({"event": {"name": "Join"}}),
        ),
        "re_entry": st.one_of(
            st.just(False), st.builds(lambda h: {"after": {"hours": h}}, st.integers(1, 6))
        ),
        "steps": st.tuples(
            st.sampled_from([{"send": "m-email"}, {"send": "m-sms"}]),
            st.lists(step_strategy(), max_size=5),
        ).map(lambda t: [t[0], *t[1]]),
    }
)  # fmt: skip
event_streams = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["Join", "Ping"]), st.integers(0, 48 * 60)),
    max_size=16,
)
# (minutes after START, crash at that run's n-th transport call or never)
run_plans = st.lists(
    st.tuples(st.integers(0, 48 * 60), st.one_of(st.none(), st.none(), st.integers(1, 8))),
    min_size=3,
    max_size=12,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(journey=journeys, stream=event_streams, plan=run_plans)
def test_random_journeys_never_send_a_step_twice_per_entry(
    stores, tmp_path_factory, journey, stream, plan
) -> None:
    directory: Path = tmp_path_factory.mktemp("random")
    url = stores.empty(directory / "passcli.db")
    stores.migrate(url)
    engine = open_store(url)
    try:
        _simulate(engine, directory, journey, stream, plan)
    finally:
        engine.dispose()
        stores.drop(url)


def _simulate(engine: Any, directory: Path, journey: dict[str, Any], stream: Any, plan: Any):
    entry = dict(journey["entry"])
    if journey["re_entry"]:
        entry["re_entry"] = journey["re_entry"]
    files = {
        "segments.yaml": {"segments": EVERYONE},
        "messages.yaml": {"messages": MESSAGES},
        "journeys.yaml": {"journeys": {"j": {"entry": entry, "steps": journey["steps"]}}},
    }  # fmt: skip
    for name, content in files.items():
        (directory / name).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    (directory / ".env").write_text(f"PASSCLI_SECRET_KEY={SECRET}\n", encoding="utf-8")
    with engine.begin() as conn:
        conn.execute(
            insert(customers),
            [customer(p, phone=f"+1303555{n:04d}", sms_opt_in=True) for n, p in enumerate(PEOPLE)],
        )
    project = require_project(directory)
    sent: list[str] = []
    imported = 0
    pending = sorted(stream, key=lambda e: e[2])
    for minutes, crash_at in sorted(plan, key=lambda p: p[0]):
        now = START + timedelta(minutes=minutes)
        arrived = [e for e in pending if e[2] <= minutes]
        pending = [e for e in pending if e[2] > minutes]
        if arrived:
            with engine.begin() as conn:
                for who, name, at in arrived:
                    imported += 1
                    ts = START + timedelta(minutes=at)
                    conn.execute(
                        insert(events).values(
                            message_id=f"e{imported}", customer_id=who, event=name, ts=ts,
                            received_at=now, properties={},
                        )
                    )  # fmt: skip
        transport = Transport(sent, crash_at)
        run = RunDue(
            engine=engine,
            project=project,
            tz=zone("America/Denver"),
            org_zone="America/Denver",
            branding=BRANDING,
            transports=Transports.fixed(transport, transport),
            wall_clock=real_wall_clock,
            sleep=no_sleep,
        )
        try:
            run.run(now)
        except Crash:
            # the process is gone: its lease expires (as a minute of silence would leave it)
            with engine.begin() as conn:
                conn.execute(
                    update(runs)
                    .where(runs.c.finished_at.is_(None))
                    .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
                )

    with read_transaction(engine) as conn:
        ledger = conn.execute(
            select(deliveries.c.send_key, deliveries.c.recipient, deliveries.c.status).where(
                deliveries.c.kind == "journey"
            )
        ).all()
        entries = conn.execute(
            select(journey_entries.c.customer_id, journey_entries.c.number)
        ).all()
    # each delivery handed to a transport once
    assert [k for k, n in Counter(sent).items() if n > 1] == []
    # one ledger row per (journey, step, entry number) and customer, for existing entries
    assert [k for k, n in Counter((k, r) for k, r, _ in ledger).items() if n > 1] == []
    numbers = {(c, n) for c, n in entries}
    for key, recipient, _ in ledger:
        _, name, _step, number = key.split(":")
        assert name == "j" and (recipient, int(number)) in numbers
    # each sent row was handed over at most once, and nothing was handed over unrecorded
    assert len(sent) <= len(ledger)
    assert Counter(status for _, _, status in ledger)["sent"] == len(sent)
