"""run-due's part in journeys: enter customers, carry them through every step that is due
(SPEC §7), under the guarantees of SPEC §6.

Per journey, each run: takes its due entry slots and inserts the new entries (`entry`);
records conversions (one UPDATE); then claims due entries in batches and advances them.
Due entries are found by indexed queries: those whose `wake_at` has come (a delay's end, a
wait's deadline, a fresh entry), and, per wait step, those at that step with an awaited
event in their window (an EXISTS on events by event, customer and ts). A claim writes the
run's lease id into `run_id`, in one statement over a `FOR UPDATE SKIP LOCKED` selection on
PostgreSQL, inside a BEGIN IMMEDIATE write transaction on SQLite, so concurrent run-dues never
hold the same entry; the claim of a run whose lease is gone is taken over. Each step's
outcome is written once (`journey_steps` is unique on entry and step), sends go through the
ledger under one key per (journey, step, entry number), group changes are idempotent: a
step repeated after a crash changes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from passcli.branding import Branding
from passcli.delivery.ledger import WallClock, run_is_gone
from passcli.delivery.transports import Sleep, Transports
from passcli.groups.spec import MembershipGroup
from passcli.journeys.entry import due_zones, enter, event_filter, next_wall_time
from passcli.journeys.sending import StepSender
from passcli.journeys.spec import (
    DelayStep,
    End,
    GroupChange,
    JourneySpec,
    Send,
    Split,
    Step,
    WaitFor,
)
from passcli.policy.rules import SendRules
from passcli.project import Project
from passcli.segments.compile import SegmentCompiler
from passcli.segments.spec import Condition, SegmentSpec, resolve_groups
from passcli.store.engine import write_transaction
from passcli.store.schema import (
    customers,
    events,
    group_members,
    journey_entries,
    journey_states,
    journey_steps,
)
from passcli.timeutil import from_epoch, to_epoch, zone

CLAIM_BATCH = 1000

_je = journey_entries.c
# An entry's place after a step, written only by the run that holds its claim.
_SAVE = (
    update(journey_entries)
    .where(_je.id == bindparam("s_id"), _je.run_id == bindparam("s_run"))
    .values(
        status=bindparam("s_status"),
        step=bindparam("s_step"),
        wake_at=bindparam("s_wake", type_=_je.wake_at.type),
        waiting_since=bindparam("s_waiting", type_=_je.waiting_since.type),
        base_at=bindparam("s_base", type_=_je.base_at.type),
        updated_at=bindparam("s_now", type_=_je.updated_at.type),
        ended_at=bindparam("s_ended", type_=_je.ended_at.type),
        end_reason=bindparam("s_reason"),
        run_id=bindparam("s_new_run"),
    )
)


@dataclass
class Cursor:
    """An entry being advanced by this run."""

    id: int
    customer_id: str
    number: int
    step: str | None
    wake_at: datetime | None
    waiting_since: datetime | None
    base_at: datetime
    timezone: str | None
    status: str = "active"
    end_reason: str | None = None
    parked: bool = False  # stopped at a delay or wait until wake_at


@dataclass
class JourneyTally:
    journey: str
    entered: int = 0
    advanced: int = 0
    sent: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "entered": self.entered,
            "advanced": self.advanced,
            "sent": self.sent,
        }


@dataclass
class JourneyRunner:
    engine: Engine
    project: Project
    tz: tzinfo
    org_zone: str
    branding: Branding
    transports: Transports
    sleep: Sleep
    wall_clock: WallClock
    run_id: str
    batch: int = CLAIM_BATCH
    _segments: dict[str, SegmentSpec] = field(default_factory=dict)

    def run(self, now: datetime) -> list[dict[str, Any]]:
        """Every journey of the project advanced as far as is due; the removed ones
        stopped. One item per journey: {journey, entered, advanced, sent}."""
        self._remove_missing(now)
        tallies = []
        for name, journey in self.project.journeys.items():
            tally = JourneyTally(name)
            first_seen = self._first_seen(name, now)
            with write_transaction(self.engine) as conn:
                zones = due_zones(conn, journey, first_seen, now, self.tz, self.org_zone)
                tally.entered = enter(
                    conn,
                    journey,
                    self.project.segments,
                    first_seen,
                    zones,
                    now,
                    self.tz,
                    self.org_zone,
                )
            self._advance(journey, now, tally)
            self._convert(journey, now)
            tallies.append(tally.to_json())
        return tallies

    # -- journey states ----------------------------------------------------------------

    def _first_seen(self, name: str, now: datetime) -> datetime:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with write_transaction(self.engine) as conn:
            conn.execute(
                dialect.insert(journey_states).on_conflict_do_nothing(),
                [{"journey": name, "first_seen_at": now}],
            )
            # back in the file after a removal: a new start, without catch-up
            conn.execute(
                update(journey_states)
                .where(journey_states.c.journey == name, journey_states.c.removed_at.is_not(None))
                .values(first_seen_at=now, removed_at=None)
            )
            seen = conn.execute(
                select(journey_states.c.first_seen_at).where(journey_states.c.journey == name)
            ).scalar_one()
        return seen  # type: ignore[no-any-return]

    def _remove_missing(self, now: datetime) -> None:
        """Journeys no longer in journeys.yaml stop: their active customers are recorded as
        exited (end_reason `removed`)."""
        with write_transaction(self.engine) as conn:
            gone = [
                str(n)
                for n in conn.execute(
                    select(journey_states.c.journey).where(
                        journey_states.c.removed_at.is_(None),
                        journey_states.c.journey.not_in(list(self.project.journeys)),
                    )
                ).scalars()
            ]
            for name in gone:
                exit_entries(conn, name, None, "removed", now)
                conn.execute(
                    update(journey_states)
                    .where(journey_states.c.journey == name)
                    .values(removed_at=now)
                )

    # -- conversions -------------------------------------------------------------------

    def _convert(self, journey: JourneySpec, now: datetime) -> None:
        """The conversion event within its window after entry, once per entry."""
        conversion = journey.conversion
        if conversion is None:
            return
        e = events.alias("e")
        je = journey_entries
        within = conversion.within.total
        first = (
            select(func.min(e.c.ts))
            .where(
                *event_filter(conversion.event, e.c),
                e.c.customer_id == je.c.customer_id,
                e.c.ts >= je.c.entered_at,
                e.c.ts <= je.c.entered_at + within,
                e.c.ts <= to_epoch(now),
            )
            .scalar_subquery()
        )
        # Late imports count for a week after a window closes; older entries are settled.
        settled = now - timedelta(seconds=within) - timedelta(days=7)
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(je)
                .where(
                    je.c.journey == journey.name,
                    je.c.converted_at.is_(None),
                    je.c.entered_at > to_epoch(settled),
                    first.is_not(None),
                )
                .values(converted_at=first)
            )

    # -- claims ------------------------------------------------------------------------

    def _claim(self, journey: JourneySpec, due: Any) -> list[Cursor]:
        je = journey_entries
        free = or_(je.c.run_id.is_(None), run_is_gone(je.c.run_id, self.wall_clock()))
        chosen = (
            select(je.c.id)
            .where(je.c.journey == journey.name, je.c.status == "active", due, free)
            .order_by(je.c.id)
            .limit(self.batch)
        )
        with write_transaction(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                chosen = chosen.with_for_update(skip_locked=True, of=je)
            ids = [int(i) for i in conn.execute(chosen).scalars()]
            if not ids:
                return []
            conn.execute(update(je).where(je.c.id.in_(ids)).values(run_id=self.run_id))
            rows = conn.execute(
                select(
                    je.c.id,
                    je.c.customer_id,
                    je.c.number,
                    je.c.step,
                    je.c.wake_at,
                    je.c.waiting_since,
                    je.c.base_at,
                    customers.c.timezone,
                )
                .join(customers, customers.c.id == je.c.customer_id)
                .where(je.c.id.in_(ids))
                .order_by(je.c.id)
            ).all()
        return [
            Cursor(
                r.id,
                r.customer_id,
                r.number,
                r.step,
                r.wake_at,
                r.waiting_since,
                r.base_at or r.wake_at,
                r.timezone,
            )
            for r in rows
        ]

    def _due_queries(self, journey: JourneySpec, now: datetime) -> list[Any]:
        """What makes an entry due: its wake time has come, or (per wait step) an awaited
        event arrived inside its window, or it is in the awaited segment."""
        je = journey_entries
        found: list[Any] = [and_(je.c.wake_at <= to_epoch(now))]
        for step in journey.steps:
            wait = step.action
            if not isinstance(wait, WaitFor):
                continue
            at_step = and_(je.c.step == step.id, je.c.waiting_since.is_not(None))
            if wait.event is not None:
                e = events.alias("e")
                earliest = now - timedelta(seconds=wait.within.total)
                arrived = exists().where(
                    *event_filter(wait.event, e.c),
                    e.c.customer_id == je.c.customer_id,
                    e.c.ts >= je.c.waiting_since,
                    e.c.ts <= je.c.wake_at,
                    e.c.ts <= to_epoch(now),
                    e.c.ts >= to_epoch(earliest),
                )
                # Driven from the events (by name and time): who had the event lately, then
                # their entries; not every entry at the step probed for an event.
                recent = events.alias("recent")
                theirs = journey_entries.alias("theirs")
                lately = (
                    select(theirs.c.id)
                    .select_from(recent)
                    .join(
                        theirs,
                        and_(
                            theirs.c.customer_id == recent.c.customer_id,
                            theirs.c.journey == journey.name,
                        ),
                    )
                    .where(
                        *event_filter(wait.event, recent.c),
                        recent.c.ts >= to_epoch(earliest),
                        recent.c.ts <= to_epoch(now),
                    )
                )
                found.append(and_(at_step, je.c.id.in_(lately), arrived))
            else:
                assert wait.segment is not None
                compiler = SegmentCompiler(self.project.segments, now, self.tz)
                found.append(and_(at_step, compiler.contains(wait.segment, je.c.customer_id)))
        return found

    # -- advancing ---------------------------------------------------------------------

    def _advance(self, journey: JourneySpec, now: datetime, tally: JourneyTally) -> None:
        for due in self._due_queries(journey, now):
            while True:
                batch = self._claim(journey, due)
                if not batch:
                    break
                self._walk(journey, batch, now, tally)
                if len(batch) < self.batch:
                    break

    def _walk(
        self, journey: JourneySpec, batch: list[Cursor], now: datetime, tally: JourneyTally
    ) -> None:
        """Carry a claimed batch through every due step, a step's group at a time."""
        moved: set[int] = set()
        for _ in range(len(journey.steps) + 1):
            running = [c for c in batch if c.status == "active" and not c.parked]
            if not running:
                break
            by_step: dict[str, list[Cursor]] = defaultdict(list)
            for cursor in running:
                if cursor.step is None or cursor.step not in journey.ids:
                    # the step left the file: the entry ends here
                    cursor.status, cursor.end_reason = "done", "completed"
                    continue
                by_step[cursor.step].append(cursor)
            history: list[dict[str, Any]] = []
            for step_id, group in by_step.items():
                step = journey.step(step_id)
                group = self._exit_check(journey, group, now)
                if group:
                    history += self._run_step(journey, step, group, now, tally)
                    moved.update(c.id for c in group)
            self._save(journey, batch, history, now, final=False)
        tally.advanced += len(moved)
        self._save(journey, batch, [], now, final=True)

    def _exit_check(self, journey: JourneySpec, group: list[Cursor], now: datetime) -> list[Cursor]:
        if journey.exit_when is None:
            return group
        leaving = self._matching(journey.exit_when, [c.customer_id for c in group], now)
        for cursor in group:
            if cursor.customer_id in leaving:
                cursor.status, cursor.end_reason = "exited", "exit_when"
        return [c for c in group if c.status == "active"]

    def _matching(self, condition: Condition, ids: list[str], now: datetime) -> set[str]:
        """The customers among `ids` who meet a segment condition now."""
        resolved = self._resolve(condition)
        test = SegmentCompiler(self.project.segments, now, self.tz).compile(resolved).test
        with write_transaction(self.engine) as conn:
            return set(
                conn.execute(
                    select(customers.c.id).where(customers.c.id.in_(ids), test(customers.c.id))
                ).scalars()
            )

    def _resolve(self, condition: Condition) -> Condition:
        items = {
            name: tuple(group.items)
            for name, group in self.project.groups.groups.items()
            if isinstance(group, MembershipGroup)
        }
        wrapped = {"_": SegmentSpec("_", None, "all", (condition,))}
        return resolve_groups(wrapped, items)["_"].conditions[0]

    def _run_step(
        self,
        journey: JourneySpec,
        step: Step,
        group: list[Cursor],
        now: datetime,
        tally: JourneyTally,
    ) -> list[dict[str, Any]]:
        action = step.action
        history: list[dict[str, Any]] = []

        def done(cursor: Cursor, outcome: str, reason: str | None = None, **extra: Any) -> None:
            history.append(
                {
                    "entry_id": cursor.id,
                    "journey": journey.name,
                    "step": step.id,
                    "kind": step.kind,
                    "outcome": outcome,
                    "reason": reason,
                    "send_key": extra.get("send_key"),
                    "at": now,
                }
            )

        if isinstance(action, Send):
            sender = StepSender(
                self.engine,
                self.project.segments,
                self.branding,
                self.transports,
                self.tz,
                self.sleep,
                self.run_id,
                SendRules.of(self.project, self.tz),
            )
            spec = self.project.messages[action.message]
            numbers: dict[int, list[Cursor]] = defaultdict(list)
            for cursor in group:
                numbers[cursor.number].append(cursor)
            for number, cursors in numbers.items():
                outcomes, report = sender.send(
                    journey.name,
                    step.id,
                    number,
                    action.message,
                    spec,
                    [c.customer_id for c in cursors],
                    now,
                )
                tally.sent += report.sent["email"] + report.sent["sms"]
                key = f"journey:{journey.name}:{step.id}:{number}"
                for cursor in cursors:
                    result = outcomes.get(cursor.customer_id)
                    outcome = result.outcome if result is not None else "skipped"
                    reason = result.reason if result is not None else "unknown"
                    done(cursor, outcome, reason, send_key=key)
                    self._next(journey, step, cursor, now)
        elif isinstance(action, DelayStep):
            for cursor in group:
                # the end follows from base_at alone, which stays put while the entry waits
                end = self._delay_end(action, cursor)
                if end <= now:
                    done(cursor, "done")
                    self._next(journey, step, cursor, end)
                else:
                    cursor.wake_at = end
                    cursor.parked = True
        elif isinstance(action, WaitFor):
            self._wait(journey, step, action, group, now, done)
        elif isinstance(action, Split):
            chosen = self._matching(action.condition, [c.customer_id for c in group], now)
            for cursor in group:
                target = action.then if cursor.customer_id in chosen else action.else_
                done(cursor, "done", target)
                self._goto(cursor, target, now)
        elif isinstance(action, GroupChange):
            self._change_group(action, [c.customer_id for c in group], now)
            for cursor in group:
                done(cursor, "done")
                self._next(journey, step, cursor, now)
        else:
            assert isinstance(action, End)
            for cursor in group:
                done(cursor, "done")
                cursor.status, cursor.end_reason = "done", "ended"
        return history

    def _delay_end(self, action: DelayStep, cursor: Cursor) -> datetime:
        delay = action.delay
        if delay.until is None:
            return cursor.base_at + timedelta(seconds=delay.span)
        where = self.tz
        if delay.local_time:
            where = zone(cursor.timezone or self.org_zone)
        return next_wall_time(cursor.base_at, delay.until, where)

    def _wait(
        self,
        journey: JourneySpec,
        step: Step,
        action: WaitFor,
        group: list[Cursor],
        now: datetime,
        done: Any,
    ) -> None:
        for cursor in group:
            if cursor.waiting_since is None:  # the wait begins
                cursor.waiting_since = cursor.base_at
                cursor.wake_at = cursor.base_at + timedelta(seconds=action.within.total)
        arrived: dict[int, datetime] = {}
        if action.event is not None:
            e = events.alias("e")
            je = journey_entries
            first = (
                select(func.min(e.c.ts))
                .where(
                    *event_filter(action.event, e.c),
                    e.c.customer_id == je.c.customer_id,
                    e.c.ts >= je.c.waiting_since,
                    e.c.ts <= je.c.wake_at,
                    e.c.ts <= to_epoch(now),
                )
                .scalar_subquery()
            )
            # the window as this run set it: stored first, so the query can read it
            self._save(journey, group, [], now, final=False)
            with write_transaction(self.engine) as conn:
                for entry_id, ts in conn.execute(
                    select(je.c.id, first).where(je.c.id.in_([c.id for c in group]))
                ):
                    if ts is not None:
                        arrived[int(entry_id)] = (
                            ts if isinstance(ts, datetime) else from_epoch(int(ts))
                        )
        else:
            assert action.segment is not None
            compiler = SegmentCompiler(self.project.segments, now, self.tz)
            ids = [c.customer_id for c in group]
            with write_transaction(self.engine) as conn:
                inside = set(
                    conn.execute(
                        select(customers.c.id).where(
                            customers.c.id.in_(ids),
                            compiler.contains(action.segment, customers.c.id),
                        )
                    ).scalars()
                )
            arrived = {c.id: now for c in group if c.customer_id in inside}
        for cursor in group:
            assert cursor.wake_at is not None
            if cursor.id in arrived:
                done(cursor, "resumed")
                self._next(journey, step, cursor, arrived[cursor.id])
            elif cursor.wake_at <= now:
                done(cursor, "timed_out")
                deadline = cursor.wake_at
                if action.on_timeout == "end":
                    cursor.status, cursor.end_reason = "done", "timed_out"
                elif action.on_timeout == "continue":
                    self._next(journey, step, cursor, deadline)
                else:
                    self._goto(cursor, action.on_timeout, deadline)
            else:
                cursor.parked = True

    def _change_group(self, action: GroupChange, ids: list[str], now: datetime) -> None:
        with write_transaction(self.engine) as conn:
            if action.add:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                rows = [
                    {
                        "group_name": action.group,
                        "customer_id": cid,
                        "address": None,
                        "source": "journey",
                        "added_at": now,
                    }
                    for cid in ids
                ]
                conn.execute(dialect.insert(group_members).on_conflict_do_nothing(), rows)
            else:
                conn.execute(
                    group_members.delete().where(
                        group_members.c.group_name == action.group,
                        group_members.c.customer_id.in_(ids),
                    )
                )

    def _next(self, journey: JourneySpec, step: Step, cursor: Cursor, base: datetime) -> None:
        following = journey.after(step)
        if following is None:
            cursor.status, cursor.end_reason = "done", "completed"
            cursor.step = None
            return
        self._goto(cursor, following.id, base)

    @staticmethod
    def _goto(cursor: Cursor, step_id: str, base: datetime) -> None:
        """Move to a step, due at once: an entry stopped here by a crash is found again by
        its wake time."""
        cursor.step = step_id
        cursor.base_at = base
        cursor.wake_at = base
        cursor.waiting_since = None

    def _save(
        self,
        journey: JourneySpec,
        batch: list[Cursor],
        history: list[dict[str, Any]],
        now: datetime,
        final: bool,
    ) -> None:
        """Write the batch's places and the steps' history in one transaction; `final`
        releases the claim."""
        with write_transaction(self.engine) as conn:
            if history:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                conn.execute(dialect.insert(journey_steps).on_conflict_do_nothing(), history)
            if not batch:
                return
            # One statement for the batch, executed with many parameter sets (compiled once).
            conn.execute(
                _SAVE,
                [
                    {
                        "s_id": c.id,
                        "s_run": self.run_id,
                        "s_status": c.status,
                        "s_step": c.step,
                        "s_wake": c.wake_at if c.status == "active" else None,
                        "s_waiting": c.waiting_since,
                        "s_base": c.base_at,
                        "s_now": now,
                        "s_ended": None if c.status == "active" else now,
                        "s_reason": None if c.status == "active" else c.end_reason,
                        "s_new_run": None if final else self.run_id,
                    }
                    for c in batch
                ],
            )


def exit_entries(
    conn: Connection, journey: str, customer_id: str | None, reason: str, now: datetime
) -> int:
    """Record active entries of a journey (one customer's, or all) as exited."""
    je = journey_entries
    query = update(je).where(je.c.journey == journey, je.c.status == "active")
    if customer_id is not None:
        query = query.where(je.c.customer_id == customer_id)
    result = conn.execute(
        query.values(status="exited", end_reason=reason, ended_at=now, updated_at=now, wake_at=None)
    )
    return int(result.rowcount or 0)


def step_counts(conn: Connection, journey: str) -> dict[str, Counter[str]]:
    """Per step: its outcomes (journey_steps), for `journey show`."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    js = journey_steps
    for step, outcome, count in conn.execute(
        select(js.c.step, js.c.outcome, func.count())
        .where(js.c.journey == journey)
        .group_by(js.c.step, js.c.outcome)
    ):
        counts[str(step)][str(outcome)] = int(count)
    return counts
