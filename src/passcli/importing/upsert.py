"""Batched upserts by primary key that tell inserted, updated and unchanged rows apart.

Each batch costs one SELECT of the existing rows, one executemany INSERT and one executemany
UPDATE; a row equal to what the store holds is not written, which is what makes importing
the same file twice change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, bindparam

from passcli.importing.bulk import Bulk, Record


class Counts:
    __slots__ = ("inserted", "updated", "skipped")

    def __init__(self) -> None:
        self.inserted = self.updated = self.skipped = 0


def upsert(
    bulk: Bulk,
    table: Table,
    records: list[Any],
    merge: Callable[[Record | None, Any], Record] | None = None,
    key: str = "id",
) -> Counts:
    """Apply `records` in order. With `merge`, each item is a patch merged onto the current
    record (None for a new one); without, each item is the whole new record."""
    counts = Counts()
    if not records:
        return counts
    keys = [_key_of(item, key) for item in records]
    existing = {row[key]: row for row in bulk.select_in(table, key, keys)}
    inserts: dict[Any, Record] = {}
    updates: dict[Any, Record] = {}
    for k, item in zip(keys, records, strict=True):
        old = inserts.get(k) or updates.get(k) or existing.get(k)
        new = merge(old, item) if merge is not None else item
        counted = getattr(item, "counted", True)
        if old is None:
            inserts[k] = new
            counts.inserted += counted
        elif new == old:
            counts.skipped += counted
        else:
            (inserts if k in inserts else updates)[k] = new
            counts.updated += counted
    bulk.insert(table, list(inserts.values()))
    if updates:
        # SET takes every column named in the parameters (SQLAlchemy's executemany form). The
        # key itself is left out: even a same-value SET of a primary key makes SQLite check
        # every child table's foreign keys.
        statement = table.update().where(table.c[key] == bindparam("_key"))
        rows = [{**_without(record, key), "_key": k} for k, record in updates.items()]
        bulk.conn.execute(statement, rows)
    return counts


def _without(record: Record, key: str) -> Record:
    return {name: value for name, value in record.items() if name != key}


def _key_of(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, dict) else getattr(item, key)
