"""The delivery ledger: claims, outcomes, and leases (SPEC §6).

A delivery row is committed as `sending` before its transport is called and turned into
`sent` or `failed` after. The database's unique key on (send key, recipient) makes a second
claim of the same delivery impossible, whatever runs at once. A run renews a lease by the
wall clock while it works; `sending` rows of a run that stopped renewing become `unknown`
and are not retried unless asked: a duplicate text message is worse than a missing one.
(`queue` plans and claims deliveries; `lease` holds the run's lease.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from passcli.store.schema import deliveries, runs
from passcli.timeutil import to_epoch

MAX_ATTEMPTS = 5
FINISHED = ("sent", "failed", "unknown")
HEARTBEAT_SECONDS = 5.0
LEASE_SECONDS = 60.0

WallClock = Callable[[], datetime]


def insert_ignoring_conflicts(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike; the rows inserted,
    or -1 when the driver cannot tell."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = conn.execute(dialect.insert(table).on_conflict_do_nothing(), list(rows))
    return int(result.rowcount if result.rowcount is not None else -1)


@dataclass(frozen=True)
class SendKey:
    """Names what is being sent, for every delivery row of it."""

    key: str
    kind: str  # message | journey | reply | test
    message: str | None = None
    occurrence_id: int | None = None
    occurrence: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class _Prepared:
    sql: str
    order: list[str] | None  # positional parameter names, or None for named
    defaults: dict[str, Any]  # the statement's literal values (status = 'queued', ...)

    def params(self, values: dict[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        return merged if self.order is None else tuple(merged[name] for name in self.order)


_PREPARED: dict[tuple[str, str], _Prepared] = {}


def _prepared(conn: Connection, name: str, build: Callable[[], Any]) -> _Prepared:
    """A statement compiled once per dialect, for the two writes every delivery makes: on
    the DBAPI cursor they cost a tenth of a full SQLAlchemy execution."""
    key = (conn.dialect.name, name)
    if key not in _PREPARED:
        compiled = build().compile(dialect=conn.dialect)
        order = list(compiled.positiontup or ()) if compiled.positional else None
        _PREPARED[key] = _Prepared(str(compiled), order, dict(compiled.params))
    return _PREPARED[key]


def start_sending_many(
    conn: Connection, delivery_ids: Sequence[int], run_id: str, now: datetime
) -> set[int]:
    """queued -> sending for several deliveries at once (idempotent transports only); the
    ids this run still owned."""
    if not delivery_ids:
        return set()
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id.in_(list(delivery_ids)),
            deliveries.c.run_id == run_id,
            deliveries.c.status == "queued",
        )
        .values(status="sending", updated_at=now)
    )
    found = conn.execute(
        select(deliveries.c.id).where(
            deliveries.c.id.in_(list(delivery_ids)),
            deliveries.c.run_id == run_id,
            deliveries.c.status == "sending",
        )
    ).scalars()
    return {int(i) for i in found}


def start_sending(conn: Connection, delivery_id: int, run_id: str, now: datetime) -> bool:
    """queued -> sending, committed by the caller just before the transport is called: a
    crash from here on leaves this one delivery `unknown`, and no other."""
    statement = _prepared(
        conn,
        "start_sending",
        lambda: (
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("s_id"),
                deliveries.c.run_id == bindparam("s_run"),
                deliveries.c.status == "queued",
            )
            .values(status="sending", updated_at=bindparam("s_now"))
        ),
    )
    values = {"s_id": delivery_id, "s_run": run_id, "s_now": to_epoch(now)}
    result = conn.exec_driver_sql(statement.sql, statement.params(values))
    return result.rowcount == 1


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: str  # sent | failed | unknown
    provider_id: str | None = None
    error: str | None = None
    retryable: bool = False  # a transient failure, worth another attempt by a later run


def record(
    conn: Connection, outcomes: Sequence[Outcome], now: datetime, run_id: str | None
) -> None:
    """Turn this run's claimed rows into `sent`, `failed` or `unknown`.

    Only rows this run still owns change: a row another run re-claimed after this one's
    lease lapsed is theirs. A row marked `unknown` meanwhile gets its real outcome.
    """
    if not outcomes:
        return
    statement = _prepared(
        conn,
        "record",
        lambda: (
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("_id"),
                deliveries.c.run_id == bindparam("_run"),
                or_(deliveries.c.status == "sending", deliveries.c.status == "unknown"),
            )
            .values(
                status=bindparam("_status"),
                provider_id=bindparam("_provider"),
                error=bindparam("_error"),
                updated_at=bindparam("_now"),
                sent_at=bindparam("_sent_at"),
                retryable=bindparam("_retryable"),
                payload=None,
            )
        ),
    )
    at = to_epoch(now)
    conn.exec_driver_sql(
        statement.sql,
        [
            statement.params(
                {
                    "_id": o.delivery_id,
                    "_run": run_id,
                    "_status": o.status,
                    "_provider": o.provider_id,
                    "_error": o.error,
                    "_now": at,
                    "_sent_at": at if o.status == "sent" else None,
                    "_retryable": o.retryable and o.status == "failed",
                },
            )
            for o in outcomes
        ],
    )


def delivered(conn: Connection, send_key: str) -> dict[str, Any]:
    """A send's outcomes so far, from the ledger: {"sent": {"email": n, "sms": n}, "failed": n}
    (`unknown` counts as failed, as in reports)."""
    sent = {"email": 0, "sms": 0}
    failed = 0
    for channel, status, count in conn.execute(
        select(deliveries.c.channel, deliveries.c.status, func.count())
        .where(deliveries.c.send_key == send_key, deliveries.c.status.in_(FINISHED))
        .group_by(deliveries.c.channel, deliveries.c.status)
    ):
        if status == "sent":
            sent[channel] = sent.get(channel, 0) + int(count)
        else:
            failed += int(count)
    return {"sent": sent, "failed": failed}


def give_up(conn: Connection, send_key: str, run_id: str) -> None:
    """Stop retrying the failed deliveries of a send that this run did not take again: their
    customers were no longer eligible (left the segment, unsubscribed), so a later run would
    reopen the send for nothing, every minute."""
    conn.execute(
        update(deliveries)
        .where(
            deliveries.c.send_key == send_key,
            deliveries.c.status == "failed",
            deliveries.c.retryable.is_(True),
            deliveries.c.run_id != run_id,
        )
        .values(retryable=False)
    )


def expire_stale(conn: Connection, wall_now: datetime, lease: float = LEASE_SECONDS) -> int:
    """`sending` rows whose run finished or stopped renewing its lease become `unknown`; its
    `queued` rows, never handed to a transport, go back to `pending` for another worker."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.status == "queued", run_is_gone(deliveries.c.run_id, wall_now, lease))
        .values(status="pending", run_id=None, attempts=deliveries.c.attempts - 1)
    )
    result = conn.execute(
        update(deliveries)
        .where(
            and_(
                deliveries.c.status == "sending", run_is_gone(deliveries.c.run_id, wall_now, lease)
            )
        )
        .values(status="unknown", error="the run sending it stopped before it recorded an outcome")
    )
    return int(result.rowcount or 0)


def run_is_gone(run_id: Any, wall_now: datetime, lease: float = LEASE_SECONDS) -> Any:
    """A predicate on a run id column: that run finished, or stopped renewing its lease.

    Correlated on the run's primary key, so it costs one probe per candidate row, however
    many runs the store remembers (cron adds 1,440 a day).
    """
    cutoff = wall_now - timedelta(seconds=lease)
    return (
        select(runs.c.id)
        .where(
            runs.c.id == run_id,
            or_(runs.c.finished_at.is_not(None), runs.c.heartbeat_at < cutoff),
        )
        .exists()
    )
