"""Who enters a journey, and when (SPEC §7).

Entry runs when the entry schedule is due: every run-due without a schedule, else once per
daily slot, per time zone for local-time schedules. Slots start from the first run-due that
sees the journey (no catch-up); a slot missed after that coalesces: only the latest one runs.
Whoever inserts a slot's row in `journey_slots` runs its entry, in the same transaction, so
concurrent run-dues enter nobody twice; `journey_entries` is unique on (journey, customer,
number) besides. Entry is one INSERT ... SELECT over the segment's query or the new events.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Select, and_, exists, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from passcli.journeys.spec import JourneySpec
from passcli.messages.conversion import EventMatch
from passcli.segments.compile import ID, SegmentCompiler
from passcli.segments.predicates import where_sql
from passcli.segments.spec import SegmentSpec
from passcli.store.schema import customers, events, journey_entries, journey_slots
from passcli.timeutil import to_epoch, zone


def latest_slot(now: datetime, at: time, tz: tzinfo) -> tuple[str, datetime]:
    """The latest daily wall time `at` at or before `now` in `tz`: (label, instant)."""
    local = now.astimezone(tz)
    day = local.date()
    candidate = datetime.combine(day, at, tzinfo=tz)
    if candidate > now:
        day -= timedelta(days=1)
        candidate = datetime.combine(day, at, tzinfo=tz)
    return f"{day.isoformat()}T{at.strftime('%H:%M')}", candidate.astimezone(UTC)


def next_wall_time(after: datetime, at: time, tz: tzinfo) -> datetime:
    """The first wall time `at` in `tz` strictly after `after`."""
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tzinfo=tz)
    if candidate <= after:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return candidate.astimezone(UTC)


def due_zones(
    conn: Connection,
    journey: JourneySpec,
    first_seen: datetime,
    now: datetime,
    tz: tzinfo,
    org_zone: str,
) -> list[str] | None:
    """Take the entry slots due now; the zones whose customers enter ([] none, None all)."""
    schedule = journey.entry.schedule
    if schedule is None:
        return None
    if not schedule.local_time:
        label, instant = latest_slot(now, schedule.at, tz)
        return None if _take(conn, journey.name, label, "", instant, first_seen, now) else []
    names = conn.execute(select(func.coalesce(customers.c.timezone, org_zone)).distinct()).scalars()
    taken = []
    for name in sorted(str(n) for n in names):
        label, instant = latest_slot(now, schedule.at, zone(name))
        if _take(conn, journey.name, label, name, instant, first_seen, now):
            taken.append(name)
    return taken


def _take(
    conn: Connection,
    journey: str,
    label: str,
    zone_name: str,
    instant: datetime,
    first_seen: datetime,
    now: datetime,
) -> bool:
    if instant < first_seen:
        return False  # before run-due first saw the journey: no catch-up
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {"journey": journey, "slot": label, "zone": zone_name, "at": now}
    statement = dialect.insert(journey_slots).on_conflict_do_nothing()
    # An INSERT's rowcount is -1 on psycopg unless SQLAlchemy is asked to keep it.
    result = conn.execute(statement.execution_options(preserve_rowcount=True), row)
    return bool(result.rowcount == 1)


def event_filter(match: EventMatch, e: Any) -> list[Any]:
    """SQL predicates on an events alias `e` for an event name and its `where` items."""
    return [e.event == match.name, *(where_sql(w, e) for w in match.as_event().where)]


def enter(
    conn: Connection,
    journey: JourneySpec,
    segments: dict[str, SegmentSpec],
    first_seen: datetime,
    zones: list[str] | None,
    now: datetime,
    tz: tzinfo,
    org_zone: str,
) -> int:
    """Insert the entries of everyone who enters now; how many entered."""
    if zones == []:
        return 0
    name = journey.name
    if journey.entry.segment is not None:
        compiler = SegmentCompiler(segments, now, tz)
        members = compiler.query(journey.entry.segment).subquery()
        query: Select[Any] = select(members.c[ID].label("customer_id"))
    else:
        assert journey.entry.event is not None
        e = events.alias("e")
        prior = journey_entries.alias("prior")
        query = (
            select(e.c.customer_id.label("customer_id"))
            .where(
                *event_filter(journey.entry.event, e.c),
                e.c.ts > to_epoch(first_seen),
                e.c.ts <= to_epoch(now),
                # an event newer than their latest entry (one that entered them is not)
                ~exists().where(
                    prior.c.journey == name,
                    prior.c.customer_id == e.c.customer_id,
                    prior.c.entered_at >= e.c.ts,
                ),
            )
            .distinct()
        )
    found = query.subquery()
    who = found.c.customer_id
    previous = journey_entries.alias("previous")
    mine = and_(previous.c.journey == name, previous.c.customer_id == who)
    conditions: list[Any]
    if journey.entry.re_entry is None:
        conditions = [~exists().where(mine)]  # never entered (nor, so, in it now)
    else:
        since = now - timedelta(seconds=journey.entry.re_entry.total)
        conditions = [
            ~exists().where(mine, previous.c.status == "active"),
            ~exists().where(mine, previous.c.ended_at > to_epoch(since)),
        ]
    number = select(func.coalesce(func.max(previous.c.number), 0) + 1).where(mine).scalar_subquery()
    at = literal(to_epoch(now))
    chosen = select(
        literal(name).label("journey"),
        who.label("customer_id"),
        number.label("number"),
        literal("active").label("status"),
        literal(journey.steps[0].id).label("step"),
        at.label("wake_at"),
        at.label("base_at"),
        at.label("entered_at"),
        at.label("updated_at"),
    ).where(*conditions)
    if zones is not None:
        c = customers.alias("c")
        chosen = chosen.where(
            exists().where(c.c.id == who, func.coalesce(c.c.timezone, org_zone).in_(zones))
        )
    columns = [
        "journey",
        "customer_id",
        "number",
        "status",
        "step",
        "wake_at",
        "base_at",
        "entered_at",
        "updated_at",
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(journey_entries)
        .from_select(columns, chosen)
        .on_conflict_do_nothing()
        .execution_options(preserve_rowcount=True)
    )
    result = conn.execute(statement)
    return int(result.rowcount or 0)
