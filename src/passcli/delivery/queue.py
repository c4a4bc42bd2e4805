"""The delivery queue: a send's deliveries planned as `pending` rows, claimed in batches.

Planning (audience, decisions, rendering) happens once, in the run that holds the
occurrence; each planned delivery is a `pending` row of the ledger carrying its rendered
message. Workers, threads or processes of that run or run-dues on other hosts, then claim
pending rows a batch at a time, in one statement: an UPDATE of the rows a
`SELECT ... FOR UPDATE SKIP LOCKED` picked, on PostgreSQL, so that claimers never wait for
each other nor take the same row; on SQLite the claim runs in a write transaction (BEGIN
IMMEDIATE), so claimers take turns. The ledger's unique key on (send key, recipient) still
makes a second delivery of one occurrence to one customer impossible, whatever runs at once.

On PostgreSQL a batch is one statement whatever its size: planned rows go in as arrays
(`unnest`), and a claim returns the rows it took (RETURNING). The index entries of rows that
left `pending` stay in the queue's index until VACUUM (and while anything holds an older
snapshot, are not even marked dead), so a courier claims after the last id it took
(`after`) instead of walking past all of them at each claim, and looks from the start only
before it concludes that the queue is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Integer,
    String,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from passcli.delivery.ledger import (
    MAX_ATTEMPTS,
    STATUS_OF_ROW,
    SendKey,
    insert_ignoring_conflicts,
    prepared,
)
from passcli.store.schema import deliveries, occurrences
from passcli.timeutil import to_epoch

PENDING = "pending"
QUEUED = "queued"
# Deliveries a worker claims at once: large enough that claims cost little next to sends,
# small enough that workers share a send evenly and a crash strands few `queued` rows.
CLAIM_BATCH = 100
# `status = 'pending'` written out, not bound: PostgreSQL uses the partial index
# ix_deliveries_pending only when it can see the predicate, and a prepared statement's
# generic plan cannot see a parameter's value.
IS_PENDING = deliveries.c.status == literal_column("'pending'")


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


def ledger_row(send: SendKey, item: Planned, now: datetime, **values: Any) -> dict[str, Any]:
    """The `deliveries` row of one planned delivery of a send; `values` sets the status and
    whatever else the row holds (payload, error, hold)."""
    return {
        "send_key": send.key,
        "recipient": item.recipient,
        "kind": send.kind,
        "message": send.message,
        "occurrence_id": send.occurrence_id,
        "occurrence": send.occurrence,
        "customer_id": item.customer_id,
        "channel": item.channel,
        "address": item.address,
        "attempts": 0,
        "run_id": None,
        "fingerprint": send.fingerprint,
        "created_at": now,
        "updated_at": now,
        **values,
    }


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
    if conn.dialect.name == "postgresql":
        inserted = _insert_arrays(conn, send, items, now)
        if len(inserted) == len(items):
            return Plan(len(items), {})
        return _plan_rest(conn, send, items, now, retry_unknown, inserted)
    rows = [
        ledger_row(send, item, now, status=PENDING, payload=item.content.dumps()) for item in items
    ]
    if insert_ignoring_conflicts(conn, deliveries, rows) == len(items):
        return Plan(len(items), {})
    # Which rows were inserted is not known: the rest counts the batch's pending rows.
    return _plan_rest(conn, send, items, now, retry_unknown, set())


def _insert_arrays(
    conn: Connection, send: SendKey, items: Sequence[Planned], now: datetime
) -> set[str]:
    """PostgreSQL: INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING,
    one statement for the batch (psycopg's executemany runs one INSERT per row, and cannot
    tell which it inserted); the recipients inserted."""
    statement = prepared(
        conn,
        "plan_arrays",
        _build_insert_arrays,
        arrays=("recipients", "customer_ids", "channels", "addresses", "payloads"),
    )
    values = {
        "recipients": [item.recipient for item in items],
        "customer_ids": [item.customer_id for item in items],
        "channels": [item.channel for item in items],
        "addresses": [item.address for item in items],
        "payloads": [item.content.dumps() for item in items],
        "send_key": send.key,
        "kind": send.kind,
        "message": send.message,
        "occurrence_id": send.occurrence_id,
        "occurrence": send.occurrence,
        "fingerprint": send.fingerprint,
        "now": to_epoch(now),
    }
    result = conn.exec_driver_sql(statement.sql, statement.params(values))
    return set(result.scalars())


def _build_insert_arrays() -> Any:
    arrays = (
        func.unnest(
            bindparam("recipients", type_=postgresql.ARRAY(String)),
            bindparam("customer_ids", type_=postgresql.ARRAY(String)),
            bindparam("channels", type_=postgresql.ARRAY(String)),
            bindparam("addresses", type_=postgresql.ARRAY(String)),
            bindparam("payloads", type_=postgresql.ARRAY(Text)),
        )
        .table_valued("recipient", "customer_id", "channel", "address", "payload")
        .render_derived(name="item")
    )
    c = deliveries.c
    constants = {
        "send_key": bindparam("send_key", type_=c.send_key.type),
        "kind": bindparam("kind", type_=c.kind.type),
        "message": bindparam("message", type_=c.message.type),
        "occurrence_id": bindparam("occurrence_id", type_=c.occurrence_id.type),
        "occurrence": bindparam("occurrence", type_=c.occurrence.type),
        "status": literal_column("'pending'"),
        "attempts": literal_column("0"),
        "fingerprint": bindparam("fingerprint", type_=c.fingerprint.type),
        "created_at": bindparam("now", type_=c.created_at.type),
        "updated_at": bindparam("now", type_=c.updated_at.type),
    }
    columns = {
        **constants,
        "recipient": arrays.c.recipient,
        "customer_id": arrays.c.customer_id,
        "channel": arrays.c.channel,
        "address": arrays.c.address,
        "payload": arrays.c.payload,
    }
    chosen = select(*(value.label(name) for name, value in columns.items()))
    return (
        postgresql.insert(deliveries)
        .from_select(list(columns), chosen)
        .on_conflict_do_nothing()
        .returning(deliveries.c.recipient)
    )


def _plan_rest(
    conn: Connection,
    send: SendKey,
    items: Sequence[Planned],
    now: datetime,
    retry_unknown: bool,
    inserted: set[str],
) -> Plan:
    """The recipients of a batch that were not `inserted` (those were, and wait pending):
    rows of this send that already exist, queued again when they may be retried."""
    by_recipient = {item.recipient: item for item in items if item.recipient not in inserted}
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
    pending = len(inserted)
    held: dict[str, str] = {}
    for row in existing:
        if row.status == PENDING:
            pending += 1  # inserted just now (SQLite), or by an earlier plan, never claimed
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
    conn: Connection,
    send_key: str,
    run_id: str,
    now: datetime,
    size: int = CLAIM_BATCH,
    *,
    after: int = 0,
) -> list[Claimed]:
    """Take up to `size` pending deliveries of a send for this run (`queued`), oldest
    first, among those after id `after`.

    Run inside a transaction. One statement: on PostgreSQL the rows are locked as they are
    chosen, and rows another claimer has locked are skipped, not waited for; SQLite has no
    row locks (the clause compiles to nothing) and needs none: its writers take turns."""
    values = {
        "c_send_key": send_key,
        "c_after": after,
        "c_size": size,
        "c_run": run_id,
        "c_now": now,
    }
    rows = conn.execute(_CLAIM, values).all()
    return sorted(
        (
            Claimed(
                int(row.id),
                row.recipient,
                row.customer_id,
                row.channel,
                row.address,
                Content.loads(row.payload),
            )
            for row in rows
        ),
        key=lambda claimed: claimed.id,
    )


def _build_claim() -> Any:
    chosen = (
        select(deliveries.c.id)
        .where(
            deliveries.c.send_key == bindparam("c_send_key"),
            IS_PENDING,
            deliveries.c.id > bindparam("c_after"),
        )
        .order_by(deliveries.c.id)
        .limit(bindparam("c_size", type_=Integer))
        .with_for_update(skip_locked=True)
        # Chosen (and locked) once, before the UPDATE reads it: inlined into the UPDATE's
        # plan, a LIMIT ... SKIP LOCKED subquery may run again and claim more than `size`.
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(deliveries)
        .where(deliveries.c.id.in_(select(chosen.c.id)), STATUS_OF_ROW == PENDING)
        .values(
            status=QUEUED,
            run_id=bindparam("c_run"),
            attempts=deliveries.c.attempts + 1,
            updated_at=bindparam("c_now", type_=deliveries.c.updated_at.type),
        )
        .returning(
            deliveries.c.id,
            deliveries.c.recipient,
            deliveries.c.customer_id,
            deliveries.c.channel,
            deliveries.c.address,
            deliveries.c.payload,
        )
    )


# Built once: a claim per batch, and its construction cost as much as its execution.
_CLAIM = _build_claim()


def has_pending(conn: Connection, send_key: str) -> bool:
    found = conn.execute(
        select(deliveries.c.id).where(deliveries.c.send_key == send_key, IS_PENDING).limit(1)
    ).first()
    return found is not None


def pending_scheduled_sends(conn: Connection) -> list[tuple[str, int]]:
    """(send key, occurrence id) of every scheduled occurrence with deliveries waiting:
    what a run-due on another host can help deliver."""
    found = conn.execute(
        select(deliveries.c.send_key, deliveries.c.occurrence_id)
        .join(occurrences, occurrences.c.id == deliveries.c.occurrence_id)
        .where(IS_PENDING, occurrences.c.kind == "scheduled")
        .distinct()
    ).all()
    return [(row.send_key, int(row.occurrence_id)) for row in found]
