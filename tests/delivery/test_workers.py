"""Several couriers on one send (`--workers N`, run-dues on several hosts): every planned
delivery goes out exactly once, and the report adds up to what one worker reports."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from passcli.cli.context import make_env
from passcli.delivery.base import Outgoing
from passcli.delivery.manual import send_now
from passcli.delivery.transports import Transports
from passcli.delivery.workers import Workers
from passcli.errors import UsageError
from passcli.scheduling.run_due import RunDue
from passcli.store import read_transaction
from passcli.store.schema import deliveries, occurrences

from .conftest import NOW, TZ, WALL, Sleeps, invoke

# Everyone reachable, on either channel, again at every send: the largest audience the
# example data has.
EVERYONE = """
messages:
  hello:
    segments: [pass-participants]
    channel: any
    once_per_customer: false
    subject: "Hello {{ customerFirstName }}"
    body: "Hi {{ customerFirstName }}, see {{ dashboardUrl }}"
    schedule:
      every: 1 day
      start: 2026-11-01 10:00
      resends: 180
"""
DUE = NOW  # 10:00 in the organisation's zone: the daily occurrence is due


class Recording:
    """A thread-safe transport that remembers every message it was given."""

    idempotent = False

    def __init__(self, fail_for: str | None = None) -> None:
        self.sent: list[Outgoing] = []
        self.lock = threading.Lock()
        self.fail_for = fail_for

    def send(self, message: Outgoing) -> str:
        if self.fail_for is not None and message.to == self.fail_for:
            raise RuntimeError("a bug in a transport")
        with self.lock:
            self.sent.append(message)
            return f"id-{len(self.sent)}"

    def close(self) -> None:
        return None


def send(examples, transports, workers, *, now=NOW):
    env = make_env(None, examples.dir)
    return send_now(
        examples.engine,
        examples.project(),
        "hello",
        now=now,
        tz=TZ,
        branding=env.branding,
        transports=transports,
        wall_clock=lambda: WALL,
        sleep=Sleeps(),
        workers=workers,
    )


def ledger_counts(examples):
    with read_transaction(examples.engine) as conn:
        rows = conn.execute(
            select(deliveries.c.send_key, deliveries.c.status, func.count())
            .group_by(deliveries.c.send_key, deliveries.c.status)
            .order_by(deliveries.c.send_key)
        ).all()
    return {(key, status): count for key, status, count in rows}


def test_four_thread_workers_deliver_each_recipient_exactly_once(examples):
    examples.write_messages(EVERYONE)
    one = Recording()
    single = send(examples, Transports.fixed(one, one), Workers(1))
    four = Recording()
    crew = send(examples, Transports.fixed(four, four), Workers(4), now=NOW + timedelta(minutes=1))
    assert single.audience > 100  # the test means something only with several batches
    assert sum(single.sent.values()) > 100
    for report in (single, crew):
        assert report.failed == 0
        assert sum(report.sent.values()) + sum(report.skipped.values()) == report.audience
    assert (crew.audience, crew.sent, dict(crew.skipped)) == (
        single.audience,
        single.sent,
        dict(single.skipped),
    )
    # Each recipient exactly once per send, to the same addresses as one worker.
    assert Counter(m.to for m in four.sent) == Counter(m.to for m in one.sent)
    assert max(Counter(m.to for m in four.sent).values()) == 1
    assert len(crew.recipients) == sum(crew.sent.values())
    assert {r["status"] for r in crew.recipients} == {"sent"}
    # Nothing left in the queue, nothing half-done in the ledger.
    counts = ledger_counts(examples)
    assert {status for _, status in counts} == {"sent"}
    with read_transaction(examples.engine) as conn:
        assert (
            conn.execute(select(func.count()).where(deliveries.c.payload.is_not(None))).scalar()
            == 0
        )
        statuses = conn.execute(select(occurrences.c.status)).scalars().all()
    assert statuses == ["done", "done"]


def test_a_worker_error_stops_the_send_and_reaches_the_caller(examples):
    examples.write_messages(EVERYONE)
    broken = Recording(fail_for="__nobody__")
    transports = Transports.fixed(broken, broken)
    first = send(examples, transports, Workers(1))
    victim = sorted(m.to for m in broken.sent)[len(broken.sent) // 2]
    failing = Recording(fail_for=victim)
    with pytest.raises(RuntimeError, match="a bug in a transport"):
        send(
            examples,
            Transports.fixed(failing, failing),
            Workers(3),
            now=NOW + timedelta(minutes=1),
        )
    assert first.failed == 0
    # No recipient got the second send twice; what was not delivered stays in the ledger
    # (queued or pending) for a later run, and the occurrence is not marked done.
    assert max(Counter(m.to for m in failing.sent).values()) == 1
    with read_transaction(examples.engine) as conn:
        statuses = (
            conn.execute(select(occurrences.c.status).order_by(occurrences.c.id)).scalars().all()
        )
    assert statuses[0] == "done"
    assert statuses[1] == "running"


def test_workers_must_be_between_1_and_64():
    with pytest.raises(UsageError):
        Workers(0)
    with pytest.raises(UsageError):
        Workers(65)


def test_a_second_run_due_helps_deliver_a_queue_another_run_planned(examples):
    """Two run-dues (two hosts): the one that claimed the occurrence plans and delivers;
    one that starts meanwhile takes batches of the same queue. Nobody gets it twice."""
    examples.write_messages(EVERYONE)
    env = make_env(None, examples.dir)
    project = examples.project()
    helper_box = Recording()
    helper_reports = []

    def run_due(box):
        return RunDue(
            engine=examples.engine,
            project=project,
            tz=TZ,
            org_zone="America/Denver",
            branding=env.branding,
            transports=Transports.fixed(box, box),
            wall_clock=lambda: WALL,
            sleep=Sleeps(),
        )

    class Planner(Recording):
        """Runs the second host's run-due during its own first send."""

        def send(self, message: Outgoing) -> str:
            if not helper_reports:
                helper_reports.append(None)
                helper_reports[0] = run_due(helper_box).run(DUE)
            return super().send(message)

    planner_box = Planner()
    report = run_due(planner_box).run(DUE)
    [helper_report] = helper_reports
    assert len(report.runs) == 1
    assert [run.message for run in helper_report.runs] == ["hello"]
    helped = sum(helper_report.runs[0].sent.values())
    assert helped > 0
    mine = sum(report.runs[0].sent.values())
    everyone = [m.to for m in planner_box.sent] + [m.to for m in helper_box.sent]
    assert len(everyone) == len(set(everyone)) == mine + helped
    assert report.runs[0].audience == mine + helped + sum(report.runs[0].skipped.values())
    # The occurrence is done, and its counts include what the helper delivered.
    with read_transaction(examples.engine) as conn:
        row = conn.execute(select(occurrences.c.status, occurrences.c.counts)).one()
    assert row.status == "done"
    assert sum(row.counts["sent"].values()) == mine + helped


def test_send_with_worker_processes_end_to_end(examples, runner):
    """`passcli send --workers 3`: three spawned processes write the outbox."""
    examples.write_messages(EVERYONE)
    dry = invoke(runner, examples, "send", "hello", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    expected = json.loads(dry.stdout)
    result = invoke(runner, examples, "send", "hello", "--yes", "--workers", "3", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["sent"] == expected["sent"]
    assert document["audience"] == expected["audience"]
    assert document["skipped"] == expected["skipped"]
    assert sorted(r["customer_id"] for r in document["recipients"]) == sorted(
        r["customer_id"] for r in expected["recipients"]
    )
    files = sorted(p.name for p in examples.outbox.glob("*/*"))
    assert len(files) == sum(expected["sent"].values())
    assert not [name for name in files if name.startswith(".tmp-")]
    assert {status for _, status in ledger_counts(examples)} == {"sent"}


def test_run_due_with_worker_processes_end_to_end(examples, runner):
    examples.write_messages(EVERYONE)
    result = invoke(
        runner, examples, "run-due", "--workers", "2", "--json", "--now", DUE.isoformat()
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    [run] = document["runs"]
    assert run["message"] == "hello"
    sent = sum(run["sent"].values())
    assert sent > 100
    assert len(run["recipients"]) == sent
    again = invoke(
        runner, examples, "run-due", "--workers", "2", "--json", "--now", DUE.isoformat()
    )
    assert json.loads(again.stdout)["runs"] == []
    assert {status: count for (_, status), count in ledger_counts(examples).items()} == {
        "sent": sent
    }


def test_workers_out_of_range_exit_2(examples, runner):
    examples.write_messages(EVERYONE)
    result = invoke(runner, examples, "send", "hello", "--yes", "--workers", "0")
    assert result.exit_code == 2
