"""The delivery queue: a send's deliveries planned as `pending` rows, claimed in batches.

Planning (audience, decisions, rendering) happens once, in the run that holds the
occurrence; each planned delivery is a `pending` row of the ledger carrying its rendered
message. Workers, threads or processes of that run or run-dues on other hosts, then claim
pending rows a batch at a time: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so that
claimers never wait for each other nor take the same row; on SQLite the claim runs in a
write transaction (BEGIN IMMEDIATE), so claimers take turns. The ledger's unique key on
(send key, recipient) still makes a second delivery of one occurrence to one customer
impossible, whatever runs at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from passcli.delivery.ledger import MAX_ATTEMPTS, SendKey, insert_ignoring_conflicts
from passcli.store.schema import deliveries, occurrences

PENDING = "pending"
# Deliveries a worker claims at once: large enough that claims cost little next to sends,
# small enough that workers share a send evenly and a crash strands few `queued` rows.
CLAIM_BATCH = 100


@dataclass(frozen=True)
class Content:
    """A rendered message, as the queue keeps it until it is sent."""

    body: str
    subject: str | None = None
    html: str | None = None
    unsubscribe_url: str | None = None  # an email's List-Unsubscribe link (RFC 8058)

    def dumps(self) -> str:
        document = {"b": self.body, "s": self.subject, "h": self.html, "u": self.unsubscribe_url}
        return orjson.dumps(document).decode()

    @classmethod
    def loads(cls, payload: str) -> Content:
        data = orjson.loads(payload)
        return cls(data["b"], data.get("s"), data.get("h"), data.get("u"))


@dataclass(frozen=True)
class Planned:
    recipient: str
    customer_id: str | None
    channel: str
    address: str
    content: Content


@dataclass(frozen=True)
class Plan:
    """What planning a batch did: how many deliveries now wait as `pending`, and the
    recipients whose row in this send someone else holds (recipient -> its status)."""

    pending: int
    held: dict[str, str]


def plan(
    conn: Connection,
    send: SendKey,
    items: Sequence[Planned],
    now: datetime,
    retry_unknown: bool = False,
) -> Plan:
    """Queue deliveries as `pending`. A recipient already in this send keeps its row,
    unless that row failed transiently (or, when asked, ended `unknown`) with attempts
    left: then it is queued again, with this plan's rendering."""
    if not items:
        return Plan(0, {})
    rows = [
        {
            "send_key": send.key,
            "recipient": item.recipient,
            "kind": send.kind,
            "message": send.message,
            "occurrence_id": send.occurrence_id,
            "occurrence": send.occurrence,
            "customer_id": item.customer_id,
            "channel": item.channel,
            "address": item.address,
            "status": PENDING,
            "attempts": 0,
            "run_id": None,
            "fingerprint": send.fingerprint,
            "payload": item.content.dumps(),
            "created_at": now,
            "updated_at": now,
        }
        for item in items
    ]
    inserted = insert_ignoring_conflicts(conn, deliveries, rows)
    if inserted == len(items):
        return Plan(inserted, {})
    by_recipient = {item.recipient: item for item in items}
    existing = conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.recipient,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.retryable,
        ).where(
            deliveries.c.send_key == send.key,
            deliveries.c.recipient.in_(list(by_recipient)),
        )
    ).all()
    pending = 0
    held: dict[str, str] = {}
    for row in existing:
        if row.status == PENDING:
            pending += 1  # inserted just now (or by an earlier plan, never claimed)
        elif _retryable(row, retry_unknown):
            item = by_recipient[row.recipient]
            again = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id, deliveries.c.status == row.status)
                .values(
                    status=PENDING,
                    run_id=None,
                    retryable=False,
                    channel=item.channel,
                    address=item.address,
                    payload=item.content.dumps(),
                    error=None,
                    updated_at=now,
                )
            )
            if again.rowcount == 1:
                pending += 1
            else:
                held[row.recipient] = PENDING
        else:
            held[row.recipient] = row.status
    return Plan(pending, held)


def _retryable(row: Any, retry_unknown: bool) -> bool:
    """A transient failure, or (when asked) an unknown outcome, with attempts left."""
    again = (row.status == "failed" and row.retryable) or (
        row.status == "unknown" and retry_unknown
    )
    return bool(again) and row.attempts < MAX_ATTEMPTS


@dataclass(frozen=True)
class Claimed:
    """A delivery this run now owns (`queued`), with what it needs to be sent."""

    id: int
    recipient: str
    customer_id: str | None
    channel: str
    address: str
    content: Content


def claim_batch(
    conn: Connection, send_key: str, run_id: str, now: datetime, size: int = CLAIM_BATCH
) -> list[Claimed]:
    """Take up to `size` pending deliveries of a send for this run, oldest first.

    Run inside a transaction. On PostgreSQL the rows are locked as they are read, and rows
    another claimer has locked are skipped, not waited for; SQLite has no row locks (the
    clause compiles to nothing) and needs none: its writers take turns."""
    rows = conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.recipient,
            deliveries.c.customer_id,
            deliveries.c.channel,
            deliveries.c.address,
            deliveries.c.payload,
        )
        .where(deliveries.c.send_key == send_key, deliveries.c.status == PENDING)
        .order_by(deliveries.c.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_([row.id for row in rows]), deliveries.c.status == PENDING)
        .values(
            status="queued",
            run_id=run_id,
            attempts=deliveries.c.attempts + 1,
            updated_at=now,
        )
    )
    return [
        Claimed(
            int(row.id),
            row.recipient,
            row.customer_id,
            row.channel,
            row.address,
            Content.loads(row.payload),
        )
        for row in rows
    ]


def has_pending(conn: Connection, send_key: str) -> bool:
    found = conn.execute(
        select(deliveries.c.id)
        .where(deliveries.c.send_key == send_key, deliveries.c.status == PENDING)
        .limit(1)
    ).first()
    return found is not None


def pending_scheduled_sends(conn: Connection) -> list[tuple[str, int]]:
    """(send key, occurrence id) of every scheduled occurrence with deliveries waiting:
    what a run-due on another host can help deliver."""
    found = conn.execute(
        select(deliveries.c.send_key, deliveries.c.occurrence_id)
        .join(occurrences, occurrences.c.id == deliveries.c.occurrence_id)
        .where(deliveries.c.status == PENDING, occurrences.c.kind == "scheduled")
        .distinct()
    ).all()
    return [(row.send_key, int(row.occurrence_id)) for row in found]
