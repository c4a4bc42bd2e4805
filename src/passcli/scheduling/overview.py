"""`passcli schedule`: upcoming occurrences of each message, and the last runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, select

from passcli.messages.spec import MessageSpec
from passcli.scheduling.occurrences import Occurrences
from passcli.store.schema import occurrences


@dataclass(frozen=True)
class Upcoming:
    message: str
    occurrence: str
    due_at: datetime  # UTC; for local-time schedules, in the organisation's zone
    local: str  # the wall time in the organisation's zone
    local_time: bool


def upcoming(
    messages: dict[str, MessageSpec], now: datetime, tz: tzinfo, count: int
) -> list[Upcoming]:
    result = []
    for name, spec in messages.items():
        if spec.schedule is None:
            continue
        schedule = Occurrences(spec.schedule, tz)
        for slot in schedule.upcoming(now, count):
            due = schedule.instant_of(slot.index)
            result.append(
                Upcoming(
                    message=name,
                    occurrence=slot.label,
                    due_at=due,
                    local=due.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
                    local_time=schedule.local_time,
                )
            )
    return sorted(result, key=lambda u: (u.due_at, u.message))


def last_runs(conn: Connection, limit: int) -> list[dict[str, Any]]:
    o = occurrences.c
    rows = conn.execute(
        select(o.message, o.kind, o.occurrence, o.status, o.fingerprint, o.started_at, o.counts)
        .order_by(o.started_at.desc(), o.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]
