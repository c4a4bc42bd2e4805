"""Occurrence rows shared by ordinary and local-time schedules."""

from __future__ import annotations

from sqlalchemy import Connection, select

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
