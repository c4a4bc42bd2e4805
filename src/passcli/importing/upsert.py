"""Batched upserts by primary key that tell inserted, updated and unchanged rows apart.

Each batch costs one SELECT of the existing rows, one executemany INSERT and one executemany
UPDATE; a row equal to what the store holds is not written, which is what makes importing
the same file twice change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, bindparam, select, type_coerce

from passcli.store.types import UtcInstant

Record = dict[str, Any]


def raw_columns(table: Table) -> list[Any]:
    """The table's columns with instants read as the integers the importer compares."""
    return [
        type_coerce(c, BigInteger).label(c.name) if isinstance(c.type, UtcInstant) else c
        for c in table.columns
    ]


def fetch_existing(
    conn: Connection, table: Table, key: str, ids: Iterable[Any]
) -> dict[Any, Record]:
    column = table.c[key]
    rows = conn.execute(select(*raw_columns(table)).where(column.in_(list(ids))))
    return {row._mapping[key]: dict(row._mapping) for row in rows}


class Counts:
    __slots__ = ("inserted", "updated", "skipped")

    def __init__(self) -> None:
        self.inserted = self.updated = self.skipped = 0


def upsert(
    conn: Connection,
    table: Table,
    records: list[Record],
    merge: Callable[[Record | None, Any], Record] | None = None,
    key: str = "id",
) -> Counts:
    """Apply `records` in order. With `merge`, each item is a patch merged onto the current
    record (None for a new one); without, each item is the whole new record."""
    counts = Counts()
    if not records:
        return counts
    keys = {_key_of(item, key) for item in records}
    existing = fetch_existing(conn, table, key, keys)
    inserts: dict[Any, Record] = {}
    updates: dict[Any, Record] = {}
    for item in records:
        k = _key_of(item, key)
        old = inserts.get(k) or updates.get(k) or existing.get(k)
        new = merge(old, item) if merge is not None else item
        if old is None:
            inserts[k] = new
            counts.inserted += 1
        elif new == old:
            counts.skipped += 1
        else:
            (inserts if k in inserts else updates)[k] = new
            counts.updated += 1
    if inserts:
        conn.execute(table.insert(), list(inserts.values()))
    if updates:
        # SET takes every column named in the parameters (SQLAlchemy's executemany form).
        statement = table.update().where(table.c[key] == bindparam("_key"))
        conn.execute(statement, [{**record, "_key": k} for k, record in updates.items()])
    return counts


def _key_of(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, dict) else getattr(item, key)
