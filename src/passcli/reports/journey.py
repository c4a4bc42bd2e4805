"""`passcli report journey NAME`: the funnel per step, from the journey tables and the ledger.

Per step, in the file's order: how many entries reached it (a recorded outcome there, or
standing at it now), how many are waiting at it (a delay or wait under way, or due), its
outcomes (sent, failed, skipped by reason, timed out, done), the unsubscribes that followed
its sends, and how many of the entries that reached it converted. Per journey: entered,
active, done and exited by reason, converted (the engine stores `converted_at` when the
conversion event arrives within the window after entry; counted once per entry).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import Connection, and_, case, func, or_, select, union

from passcli.errors import UsageError
from passcli.journeys.spec import JourneySpec, Send
from passcli.messages.conversion import Conversion
from passcli.reports.attribution import DEFAULT_UNSUBSCRIBE_WINDOW, unsubscribed
from passcli.reports.outcomes import DaySends, per_day
from passcli.store.schema import deliveries, journey_entries, journey_steps
from passcli.timeutil import to_epoch
from passcli.yamlpos import did_you_mean

DONE = ("done", "resumed")  # a step that completed (a wait that got its event resumed)
FAILED = ("failed", "unknown")


@dataclass
class StepFunnel:
    step: str
    kind: str
    message: str | None  # a send step's message
    reached: int = 0
    waiting: int = 0
    done: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"email": 0, "sms": 0})
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    timed_out: int = 0
    unsubscribes: int = 0
    converted: int = 0


@dataclass
class JourneyReport:
    journey: str
    title: str | None
    at: datetime
    conversion: Conversion | None
    entered: int = 0
    customers: int = 0
    active: int = 0
    done: Counter[str] = field(default_factory=Counter)  # by end_reason
    exited: Counter[str] = field(default_factory=Counter)  # by end_reason
    converted: int = 0
    steps: list[StepFunnel] = field(default_factory=list)
    days: list[DaySends] = field(default_factory=list)

    @property
    def conversion_rate(self) -> float | None:
        if self.conversion is None or not self.entered:
            return None
        return self.converted / self.entered


def journey_report(
    conn: Connection,
    journeys: dict[str, JourneySpec],
    name: str,
    now: datetime,
    tz: tzinfo,
) -> JourneyReport:
    """The funnel of journey `name` as of `now` (entries and outcomes recorded by then)."""
    spec = journeys.get(name)
    e = journey_entries.c
    s = journey_steps.c
    cutoff = to_epoch(now)
    known = conn.execute(select(func.count()).where(e.journey == name)).scalar()
    if spec is None and not known:
        raise UsageError(f"unknown journey {name!r}{did_you_mean(name, list(journeys))}")
    conversion = spec.conversion if spec is not None else None
    report = JourneyReport(name, spec.title if spec else None, now, conversion)
    window = conversion.within.total if conversion is not None else DEFAULT_UNSUBSCRIBE_WINDOW

    # -- the journey as a whole ---------------------------------------------------------------
    entered = and_(e.journey == name, e.entered_at <= cutoff)
    row = conn.execute(
        select(
            func.count(),
            func.count(func.distinct(e.customer_id)),
            func.coalesce(func.sum(case((e.converted_at <= cutoff, 1), else_=0)), 0),
        ).where(entered)
    ).one()
    report.entered, report.customers, report.converted = (int(v) for v in row)
    for status, reason, count in conn.execute(
        select(e.status, e.end_reason, func.count())
        .where(entered, or_(e.status == "active", e.ended_at <= cutoff))
        .group_by(e.status, e.end_reason)
    ):
        if status == "active":
            report.active += int(count)
        elif status == "exited":
            report.exited[str(reason)] += int(count)
        else:
            report.done[str(reason)] += int(count)
    # ended after now: still active as of now
    report.active += conn.execute(
        select(func.count()).where(entered, e.status != "active", e.ended_at > cutoff)
    ).scalar_one()

    # -- per step -------------------------------------------------------------------------
    order: dict[str, StepFunnel] = {}
    if spec is not None:
        for step in spec.steps:
            message = step.action.message if isinstance(step.action, Send) else None
            order[step.id] = StepFunnel(step.id, step.kind, message)

    def funnel(step: str, kind: str) -> StepFunnel:
        if step not in order:
            order[step] = StepFunnel(step, kind, None)  # a step no longer in the file
        return order[step]

    recorded = and_(s.journey == name, s.at <= cutoff)
    for step, kind, outcome, reason, count in conn.execute(
        select(s.step, s.kind, s.outcome, s.reason, func.count())
        .where(recorded)
        .group_by(s.step, s.kind, s.outcome, s.reason)
    ):
        f = funnel(str(step), str(kind))
        n = int(count)
        if outcome == "sent":
            pass  # counted by channel from the ledger below
        elif outcome in FAILED:
            f.failed += n
        elif outcome == "skipped":
            f.skipped[str(reason or "skipped")] += n
        elif outcome == "timed_out":
            f.timed_out += n
        elif outcome in DONE:
            f.done += n

    # reached: an outcome recorded at the step, or standing at it now (active)
    at_step = union(
        select(s.entry_id.label("entry_id"), s.step.label("step")).where(recorded),
        select(e.id.label("entry_id"), e.step.label("step")).where(
            entered, e.status == "active", e.step.is_not(None)
        ),
    ).subquery()
    entry = journey_entries.alias("entry")
    for step, reached, converted in conn.execute(
        select(
            at_step.c.step,
            func.count(),
            func.coalesce(func.sum(case((entry.c.converted_at <= cutoff, 1), else_=0)), 0),
        )
        .select_from(at_step.join(entry, entry.c.id == at_step.c.entry_id))
        .group_by(at_step.c.step)
    ):
        f = funnel(str(step), "")
        f.reached = int(reached)
        f.converted = int(converted)
    for step, count in conn.execute(
        select(e.step, func.count())
        .where(entered, e.status == "active", e.step.is_not(None))
        .group_by(e.step)
    ):
        funnel(str(step), "").waiting = int(count)

    # Sends by channel and the unsubscribes that followed them, from the ledger: a send
    # step's row names its ledger key, and the recipient is the entry's customer.
    ledger = deliveries.alias("d")
    d = ledger.c
    sends_of_steps = journey_steps.join(journey_entries, s.entry_id == e.id).join(
        ledger, and_(d.send_key == s.send_key, d.customer_id == e.customer_id)
    )
    sent = and_(s.journey == name, d.kind == "journey", d.status == "sent", d.sent_at <= cutoff)
    for step, channel, count in conn.execute(
        select(s.step, d.channel, func.count())
        .select_from(sends_of_steps)
        .where(sent)
        .group_by(s.step, d.channel)
    ):
        f = funnel(str(step), "send")
        f.sent[str(channel)] = f.sent.get(str(channel), 0) + int(count)
    for step, count in conn.execute(
        select(s.step, func.count())
        .select_from(sends_of_steps)
        .where(sent, unsubscribed(d, window, now))
        .group_by(s.step)
    ):
        funnel(str(step), "send").unsubscribes = int(count)
    days = conn.execute(
        select(d.sent_at, d.channel, func.count())
        .select_from(sends_of_steps)
        .where(sent)
        .group_by(d.sent_at, d.channel)
    )
    report.days = per_day(((r[0], r[1], r[2]) for r in days), tz)
    report.steps = list(order.values())
    return report
