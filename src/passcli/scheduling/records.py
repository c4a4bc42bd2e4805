"""Occurrence rows shared by ordinary and local-time schedules."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, Table, literal, select, update

from passcli.store.schema import occurrences

# At most this many earlier occurrences are recorded as missed per message and run, so a
# minute-by-minute schedule after a month off does not write forty thousand rows.
MAX_MISSED_RECORDED = 100


def scheduled_key(name: str, label: str) -> str:
    """The ledger's send key of a scheduled occurrence."""
    return f"scheduled:{name}:{label}"


def find_occurrence(conn: Connection, name: str, label: str) -> int | None:
    """The id of a scheduled occurrence already recorded, if any."""
    found = conn.execute(
        select(occurrences.c.id).where(
            occurrences.c.message == name,
            occurrences.c.kind == "scheduled",
            occurrences.c.occurrence == label,
        )
    ).scalar()
    return None if found is None else int(found)


def take_row(conn: Connection, table: Table, where: list[Any], values: dict[str, Any]) -> bool:
    """Update the row `where` selects, unless another transaction holds it: True when this
    one took it. On PostgreSQL the row is locked with FOR UPDATE SKIP LOCKED first, so two
    run-dues racing for the same occurrence never wait on each other (the loser moves on);
    SQLite's writers take turns, and the clause compiles to nothing there."""
    locked = conn.execute(
        select(literal(1)).select_from(table).where(*where).with_for_update(skip_locked=True)
    ).first()
    if locked is None:
        return False
    return conn.execute(update(table).where(*where).values(values)).rowcount == 1


def summed_counts(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """The audience, skips and holds of several runs' counts, added up."""
    skipped: Counter[str] = Counter()
    holds: Counter[str] = Counter()
    for one in counts:
        skipped.update(one.get("skipped") or {})
        holds.update(one.get("holds") or {})
    return {
        "audience": sum(int(one.get("audience") or 0) for one in counts),
        "skipped": dict(sorted(skipped.items())),
        "held": sum(int(one.get("held") or 0) for one in counts),
        "holds": dict(sorted(holds.items())),
    }
