"""`passcli report message NAME`: per occurrence, who was reached and what followed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from passcli.errors import UsageError
from passcli.messages.conversion import Conversion
from passcli.messages.spec import MessageSpec
from passcli.reports.attribution import DEFAULT_UNSUBSCRIBE_WINDOW, converted, unsubscribed
from passcli.reports.outcomes import DaySends, Outcomes, per_day
from passcli.store.schema import deliveries, occurrences
from passcli.timeutil import to_epoch
from passcli.yamlpos import did_you_mean

FAILED = ("failed", "unknown")  # unknown counts as failed, as in send reports
IN_FLIGHT = ("pending", "queued", "sending")


@dataclass(frozen=True)
class OccurrenceRow:
    occurrence: str  # its label: the scheduled instant, the local wall time, the send's instant
    kind: str  # scheduled | manual
    status: str  # running | done | missed
    started_at: datetime | None
    outcomes: Outcomes


@dataclass
class MessageReport:
    message: str
    title: str | None
    at: datetime
    conversion: Conversion | None
    unsubscribe_window: int  # seconds after a text in which a STOP is attributed to it
    occurrences: list[OccurrenceRow] = field(default_factory=list)
    total: Outcomes = field(default_factory=Outcomes)
    days: list[DaySends] = field(default_factory=list)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def message_report(
    conn: Connection,
    messages: dict[str, MessageSpec],
    name: str,
    now: datetime,
    tz: tzinfo,
) -> MessageReport:
    """The report of message `name` as of `now`, from the ledger and the occurrences.

    A message no longer in messages.yaml is reported from its history (without conversions,
    which its definition gave); a name with neither is bad usage."""
    spec = messages.get(name)
    o = occurrences.c
    rows = conn.execute(
        select(o.id, o.kind, o.occurrence, o.status, o.started_at, o.due_at, o.counts)
        .where(o.message == name, o.started_at.is_(None) | (o.started_at <= to_epoch(now)))
        .order_by(func.coalesce(o.due_at, o.started_at), o.id)
    ).all()
    if spec is None and not rows:
        raise UsageError(f"unknown message {name!r}{did_you_mean(name, list(messages))}")
    conversion = spec.conversion if spec is not None else None
    window = conversion.within.total if conversion is not None else DEFAULT_UNSUBSCRIBE_WINDOW
    report = MessageReport(name, spec.title if spec else None, now, conversion, window)
    if conversion is not None:
        report.total.conversions = 0

    ledger = _ledger(conn, name, conversion, window, now)
    policy = _held(conn, name)
    for row in rows:
        outcomes = ledger.get(row.id) or Outcomes()
        counts = row.counts or {}
        outcomes.audience = int(counts.get("audience") or 0)
        outcomes.skipped = Counter({k: int(v) for k, v in (counts.get("skipped") or {}).items()})
        # Held by quiet hours when the occurrence ran: the ledger says how many still are,
        # and why the released ones that did not go out were skipped.
        quiet = int((counts.get("holds") or {}).get("quiet_hours") or 0)
        still_held, release_skips = policy.get(row.id, (0, Counter()))
        outcomes.held = int(counts.get("held") or 0) - quiet + still_held
        outcomes.skipped.update(release_skips)
        if conversion is not None and outcomes.conversions is None:
            outcomes.conversions = 0
        at = row.started_at or row.due_at
        report.occurrences.append(OccurrenceRow(row.occurrence, row.kind, row.status, at, outcomes))
        report.total.add(outcomes)

    d = deliveries.c
    sends = conn.execute(
        select(d.sent_at, d.channel, func.count())
        .where(_of_message(d, name), d.status == "sent", d.sent_at <= to_epoch(now))
        .group_by(d.sent_at, d.channel)
    )
    report.days = per_day(((r[0], r[1], r[2]) for r in sends), tz)
    return report


def _of_message(d: Any, name: str) -> ColumnElement[bool]:
    """Deliveries of the message's own occurrences (its journey sends are the journey's)."""
    return and_(d.kind == "message", d.message == name, d.occurrence_id.is_not(None))


def _held(conn: Connection, name: str) -> dict[int, tuple[int, Counter[str]]]:
    """Per occurrence id: deliveries still held by quiet hours, and the skip reasons of held
    ones that were not sent when released (SPEC §11)."""
    d = deliveries.c
    result: dict[int, tuple[int, Counter[str]]] = {}
    found = conn.execute(
        select(d.occurrence_id, d.status, d.error, func.count())
        .where(_of_message(d, name), d.hold_until.is_not(None), d.status.in_(("held", "skipped")))
        .group_by(d.occurrence_id, d.status, d.error)
    )
    for occurrence_id, status, error, count in found:
        held, skipped = result.setdefault(int(occurrence_id), (0, Counter()))
        if status == "held":
            result[int(occurrence_id)] = (held + int(count), skipped)
        else:
            skipped[str(error)] += int(count)
    return result


def _ledger(
    conn: Connection, name: str, conversion: Conversion | None, window: int, now: datetime
) -> dict[int, Outcomes]:
    """Per occurrence id: sent by channel, failed, in flight, unsubscribes, conversions; one
    aggregate query, the attributions as correlated EXISTS probes per sent delivery."""
    d = deliveries.alias("d").c
    sent = and_(d.status == "sent", d.sent_at <= to_epoch(now))
    columns: list[Any] = [
        d.occurrence_id,
        _count(and_(sent, d.channel == "email")).label("sent_email"),
        _count(and_(sent, d.channel == "sms")).label("sent_sms"),
        _count(d.status.in_(FAILED)).label("failed"),
        _count(d.status.in_(IN_FLIGHT)).label("pending"),
        _count(and_(sent, d.channel == "email", unsubscribed(d, window, now))).label("unsub_email"),
        _count(and_(sent, d.channel == "sms", unsubscribed(d, window, now))).label("unsub_sms"),
    ]
    if conversion is not None:
        columns.append(_count(and_(sent, converted(d, conversion, now))).label("conversions"))
    result: dict[int, Outcomes] = {}
    for row in conn.execute(select(*columns).where(_of_message(d, name)).group_by(d.occurrence_id)):
        values = row._mapping
        result[int(row.occurrence_id)] = Outcomes(
            sent={"email": int(values["sent_email"]), "sms": int(values["sent_sms"])},
            failed=int(values["failed"]),
            pending=int(values["pending"]),
            unsubscribes={"email": int(values["unsub_email"]), "sms": int(values["unsub_sms"])},
            conversions=int(values["conversions"]) if conversion is not None else None,
        )
    return result
