"""Held deliveries (quiet hours) and policy skips, in the ledger; releasing held ones.

A send planned inside a customer's quiet hours is a ledger row with status `held`, its
rendered message, `hold_until` (when their quiet hours end) and `hold_deadline` (its
occurrence plus `misfire_grace`). The first run-due at or after `hold_until` releases it:
consent and frequency caps are checked again as they are then (membership is not: the
customer was in the audience when the occurrence ran), and it becomes `pending` and is
delivered by that run, or `skipped` with the reason. One held after its deadline is
`skipped` with reason `quiet_hours`. Moving a row out of `held` is guarded by its status,
so two run-dues at once release it once.

A customer skipped for a frequency cap also gets a ledger row, status `skipped`, error
`frequency_cap`, so that `passcli log --customer` answers "why did they not get it?". A
later plan of the same send (a resumed run) may replace a skipped row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, literal_column, select, update

from passcli.delivery.ledger import SendKey, insert_ignoring_conflicts
from passcli.delivery.queue import Planned, ledger_row
from passcli.delivery.report import SendReport
from passcli.messages.audience import channel_problem
from passcli.messages.spec import MessageSpec
from passcli.policy.caps import Caps
from passcli.store.engine import writer
from passcli.store.schema import customers, deliveries

HELD = "held"
SKIPPED = "skipped"
QUIET_HOURS = "quiet_hours"
FREQUENCY_CAP = "frequency_cap"
RELEASE_BATCH = 500
# `status = 'held'` written out, not bound: PostgreSQL uses the partial index
# ix_deliveries_held only when it can see the predicate.
IS_HELD = deliveries.c.status == literal_column("'held'")


@dataclass(frozen=True)
class Held:
    item: Planned
    until: datetime


def hold(
    conn: Connection, send: SendKey, held: Sequence[Held], deadline: datetime, now: datetime
) -> None:
    """Record deliveries held by quiet hours. A recipient whose row in this send was skipped
    (a cap, earlier) or failed transiently is held instead."""
    if not held:
        return
    values = {
        item.item.recipient: {
            "status": HELD,
            "payload": item.item.content.dumps(),
            "hold_until": item.until,
            "hold_deadline": deadline,
            "error": QUIET_HOURS,
        }
        for item in held
    }
    rows = [ledger_row(send, h.item, now, **values[h.item.recipient]) for h in held]
    if insert_ignoring_conflicts(conn, deliveries, rows) == len(rows):
        return
    # Some rows existed (or, on PostgreSQL, the driver cannot tell): those that may be held
    # instead are few, found in one query.
    d = deliveries.c
    replaceable = (d.status == SKIPPED) | ((d.status == "failed") & d.retryable)
    found = conn.execute(
        select(d.id, d.recipient).where(
            d.send_key == send.key, d.recipient.in_(list(values)), replaceable
        )
    ).all()
    for row in found:
        conn.execute(
            update(deliveries)
            .where(d.id == row.id, replaceable)
            .values(**values[row.recipient], run_id=None, retryable=False, updated_at=now)
        )


def record_skips(
    conn: Connection, send: SendKey, skipped: Sequence[Planned], reason: str, now: datetime
) -> None:
    """Ledger rows for customers a policy skipped (reason in `error`); an existing row of
    the recipient in this send is kept."""
    rows = [ledger_row(send, item, now, status=SKIPPED, error=reason) for item in skipped]
    insert_ignoring_conflicts(conn, deliveries, rows)


def due_held(conn: Connection, now: datetime) -> bool:
    """Whether a held delivery's quiet hours have ended by `now`."""
    d = deliveries.c
    found = conn.execute(select(d.id).where(IS_HELD, d.hold_until <= now).limit(1)).first()
    return found is not None


# Delivers the pending rows of one send key, adding what it did to the report.
Drain = Callable[[str, SendReport], None]


@dataclass
class Releaser:
    """Releases the held deliveries whose quiet hours are over, as of `now`."""

    engine: Engine
    caps: Caps
    messages: Mapping[str, MessageSpec]

    def release(self, now: datetime, drain: Drain | None) -> list[SendReport]:
        """Decide every held delivery due at `now` and deliver those released; `drain`
        None is a dry run: nothing changes, the reports say what would happen."""
        reports: dict[str, SendReport] = {}
        after = 0
        while True:
            with writer(self.engine) as conn, conn.begin():
                batch = self._due(conn, now, after, locked=drain is not None)
                if not batch:
                    break
                after = max(int(row.id) for row in batch)
                self._decide(conn, batch, now, reports, dry_run=drain is None)
        if drain is not None:
            for key, report in reports.items():
                drain(key, report)
        return list(reports.values())

    def _due(self, conn: Connection, now: datetime, after: int, locked: bool) -> list[Any]:
        d = deliveries.c
        c = customers.c
        query = (
            select(
                d.id,
                d.send_key,
                d.message,
                d.occurrence,
                d.customer_id,
                d.channel,
                d.address,
                d.hold_deadline,
                c.email,
                c.phone,
                c.email_opt_in,
                c.sms_opt_in,
                c.email_consent_source,
                c.sms_consent_source,
            )
            .outerjoin(customers, customers.c.id == d.customer_id)
            .where(IS_HELD, d.hold_until <= now, d.id > after)
            .order_by(d.id)
            .limit(RELEASE_BATCH)
        )
        if locked:
            # Two run-dues at once on PostgreSQL take different rows rather than wait.
            query = query.with_for_update(of=deliveries, skip_locked=True)
        return list(conn.execute(query).all())

    def _decide(
        self,
        conn: Connection,
        batch: list[Any],
        now: datetime,
        reports: dict[str, SendReport],
        dry_run: bool,
    ) -> None:
        wanted = [
            (row.customer_id, row.channel, self.messages.get(row.message))
            for row in batch
            if row.customer_id is not None
        ]
        tally = self.caps.tally(conn, wanted, now)
        skipped: dict[str, list[int]] = defaultdict(list)
        released: list[int] = []
        for row in batch:
            report = reports.get(row.send_key)
            if report is None:
                report = SendReport(row.message or "", now, row.occurrence or "", dry_run)
                reports[row.send_key] = report
            report.audience += 1
            reason = self._reason(row, tally, now)
            if reason is not None:
                report.skipped[reason] += 1
                skipped[reason].append(int(row.id))
            elif dry_run:
                report.sent[row.channel] += 1
            else:
                released.append(int(row.id))
        if dry_run:
            return
        d = deliveries.c
        for reason, ids in skipped.items():
            conn.execute(
                update(deliveries)
                .where(d.id.in_(ids), d.status == HELD)
                .values(status=SKIPPED, error=reason, payload=None, updated_at=now)
            )
        if released:
            conn.execute(
                update(deliveries)
                .where(d.id.in_(released), d.status == HELD)
                .values(status="pending", error=None, updated_at=now)
            )

    def _reason(self, row: Any, tally: Any, now: datetime) -> str | None:
        """Why a held delivery may not go out now, or None."""
        if row.hold_deadline is not None and row.hold_deadline < now:
            return QUIET_HOURS  # its quiet hours ended after misfire_grace
        if row.customer_id is None:
            return None
        if row.channel == "email":
            problem = channel_problem(row.email, row.email_opt_in, row.email_consent_source)
        else:
            problem = channel_problem(row.phone, row.sms_opt_in, row.sms_consent_source)
        if problem is not None:
            return problem
        spec = self.messages.get(row.message) if row.message else None
        if not tally.admit(row.customer_id, row.channel, spec):
            return FREQUENCY_CAP
        return None
