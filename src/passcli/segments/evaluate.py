"""Running compiled segments: sizes, members, streamed in batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Select, func, literal, select

from passcli.segments.compile import ID, SegmentCompiler
from passcli.segments.spec import SegmentSpec
from passcli.store.schema import customers, items

MEMBER_COLUMNS = ("id", "email", "phone", "first_name", "last_name")
BATCH = 5_000


def member_ids(
    segments: dict[str, SegmentSpec], name: str, now: datetime, tz: tzinfo
) -> Select[Any]:
    """The compiled query: SELECT customer_id of every member."""
    return SegmentCompiler(segments, now, tz).query(name)


def members_query(ids: Select[Any], limit: int | None = None) -> Select[Any]:
    """Members' export columns, in customer-id order."""
    found = ids.subquery()
    query = (
        select(*(customers.c[name] for name in MEMBER_COLUMNS))
        .join(found, found.c[ID] == customers.c.id)
        .order_by(customers.c.id)
    )
    return query if limit is None else query.limit(limit)


def count(conn: Connection, ids: Select[Any]) -> int:
    return int(conn.execute(select(func.count()).select_from(ids.subquery())).scalar_one())


def stream(conn: Connection, query: Select[Any], batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Rows as dicts, fetched `batch` at a time (server-side cursors where the backend has them)."""
    result = conn.execution_options(yield_per=batch).execute(query)
    for partition in result.mappings().partitions():
        for row in partition:
            yield dict(row)


def segments_of(
    conn: Connection,
    segments: dict[str, SegmentSpec],
    customer_id: str,
    now: datetime,
    tz: tzinfo,
) -> list[str]:
    """The names of the segments one customer is in now (one small probe each)."""
    compiler = SegmentCompiler(segments, now, tz)
    found = []
    for name in segments:
        probe = select(literal(1)).where(compiler.contains(name, literal(customer_id)))
        if conn.execute(probe).first() is not None:
            found.append(name)
    return found


def known_items(conn: Connection) -> set[str] | None:
    """The store's item ids, or None while it has none (names are then not checked)."""
    ids = set(conn.execute(select(items.c.id)).scalars())
    return ids or None


def raw_rows(conn: Connection, query: Select[Any], batch: int = BATCH) -> Iterator[tuple[Any, ...]]:
    """Rows as plain tuples straight from the driver's cursor, `batch` at a time.

    For exports of hundreds of thousands of members: SQLAlchemy renders the statement for
    the dialect, the rows skip its per-row processing (the columns are plain text).
    """
    compiled = query.compile(dialect=conn.dialect)
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    result = conn.execution_options(stream_results=True).exec_driver_sql(str(compiled), params)
    while rows := result.fetchmany(batch):
        for row in rows:
            yield tuple(row)
