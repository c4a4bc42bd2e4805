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

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    String,
    Text,
    and_,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from passcli.store.schema import deliveries, runs
from passcli.timeutil import to_epoch

MAX_ATTEMPTS = 5
FINISHED = ("sent", "failed", "unknown")
# The statuses of a run's row that its outcome may be recorded over.
OWNED = ("queued", "sending", "unknown")
HEARTBEAT_SECONDS = 5.0
LEASE_SECONDS = 60.0

WallClock = Callable[[], datetime]

# A row's status as the writes that find rows by id check it: an expression, not the column,
# so that PostgreSQL reaches those rows by primary key. Through the (status, run_id) index it
# would walk past the entries of every row the run has already moved on (dead versions that
# only VACUUM removes), a cost that grows with each batch of a send.
STATUS_OF_ROW = deliveries.c.status + ""


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
class Prepared:
    sql: str
    order: list[str] | None  # positional parameter names, or None for named
    defaults: dict[str, Any]  # the statement's literal values (status = 'queued', ...)

    def params(self, values: dict[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        return merged if self.order is None else tuple(merged[name] for name in self.order)


_PREPARED: dict[tuple[str, str], Prepared] = {}


def prepared(
    conn: Connection, name: str, build: Callable[[], Any], arrays: Sequence[str] = ()
) -> Prepared:
    """A statement compiled once per dialect, for the writes every delivery or batch makes:
    run with `exec_driver_sql`, they cost a tenth of a full SQLAlchemy execution. Values are
    passed as the DBAPI takes them (instants as `to_epoch`).

    `arrays` names list parameters that psycopg sends in its binary format (`%(name)b`): in
    the text format it quotes and escapes every element in Python, which cost more than the
    statement itself for a batch of rendered messages."""
    key = (conn.dialect.name, name)
    if key not in _PREPARED:
        compiled = build().compile(dialect=conn.dialect)
        order = list(compiled.positiontup or ()) if compiled.positional else None
        sql = str(compiled)
        for array in arrays if conn.dialect.driver == "psycopg" else ():
            assert f"%({array})s" in sql, array
            sql = sql.replace(f"%({array})s", f"%({array})b")
        _PREPARED[key] = Prepared(sql, order, dict(compiled.params))
    return _PREPARED[key]


def start_sending(conn: Connection, delivery_id: int, run_id: str, now: datetime) -> bool:
    """queued -> sending, committed by the caller just before the transport is called: a
    crash from here on leaves this one delivery `unknown`, and no other."""
    statement = prepared(
        conn,
        "start_sending",
        lambda: (
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("s_id"),
                deliveries.c.run_id == bindparam("s_run"),
                STATUS_OF_ROW == "queued",
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
    """Turn this run's claimed rows into `sent`, `failed` or `unknown`: `sending` ones, or
    `queued` ones of an idempotent transport, which skip `sending` (see courier.py).

    Only rows this run still owns change: a row another run re-claimed after this one's
    lease lapsed is theirs. A row marked `unknown` meanwhile gets its real outcome.
    """
    if not outcomes:
        return
    if conn.dialect.name == "postgresql":
        _record_arrays(conn, outcomes, now, run_id)
        return
    # SQLite runs in this process: a prepared statement per row costs less than building
    # one statement for all of them.
    statement = prepared(
        conn,
        "record",
        lambda: (
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("_id"),
                deliveries.c.run_id == bindparam("_run"),
                # not IN: a statement compiled once cannot expand a list
                or_(*(STATUS_OF_ROW == status for status in OWNED)),
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


def _record_arrays(
    conn: Connection, outcomes: Sequence[Outcome], now: datetime, run_id: str | None
) -> None:
    """PostgreSQL: one UPDATE ... FROM unnest(arrays) for the whole batch, where psycopg's
    executemany would run one UPDATE per row."""
    statement = prepared(
        conn,
        "record_arrays",
        _build_record_arrays,
        arrays=("ids", "statuses", "providers", "errors", "retryables"),
    )
    values = {
        "ids": [o.delivery_id for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "providers": [o.provider_id for o in outcomes],
        "errors": [o.error for o in outcomes],
        "retryables": [o.retryable and o.status == "failed" for o in outcomes],
        "owner": run_id,
        "at": to_epoch(now),
    }
    conn.exec_driver_sql(statement.sql, statement.params(values))


def _build_record_arrays() -> Any:
    outcome = (
        func.unnest(
            bindparam("ids", type_=postgresql.ARRAY(BigInteger)),
            bindparam("statuses", type_=postgresql.ARRAY(String)),
            bindparam("providers", type_=postgresql.ARRAY(String)),
            bindparam("errors", type_=postgresql.ARRAY(Text)),
            bindparam("retryables", type_=postgresql.ARRAY(Boolean)),
        )
        .table_valued("id", "status", "provider_id", "error", "retryable")
        .render_derived(name="outcome")
    )
    at = bindparam("at", type_=deliveries.c.updated_at.type)
    return (
        update(deliveries)
        .where(
            deliveries.c.id == outcome.c.id,
            deliveries.c.run_id == bindparam("owner", type_=String),
            or_(*(STATUS_OF_ROW == status for status in OWNED)),
        )
        .values(
            status=outcome.c.status,
            provider_id=outcome.c.provider_id,
            error=outcome.c.error,
            retryable=outcome.c.retryable,
            updated_at=at,
            sent_at=case((outcome.c.status == "sent", at), else_=null()),
            payload=None,
        )
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
