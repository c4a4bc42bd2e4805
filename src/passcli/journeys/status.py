"""What `passcli journey list|show|preview|exit` report, from the journey tables."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, func, select

from passcli.errors import NotFoundError, UsageError
from passcli.journeys.engine import exit_entries, step_counts
from passcli.journeys.spec import DelayStep, End, JourneySpec, Send, Split, WaitFor
from passcli.project import Project
from passcli.segments.compile import SegmentCompiler
from passcli.store.schema import customers, journey_entries

SENT = ("sent", "failed", "unknown")


def find_journey(project: Project, name: str) -> JourneySpec:
    try:
        return project.journeys[name]
    except KeyError:
        raise UsageError(f"unknown journey {name!r}") from None


def journey_summary(conn: Connection, journey: JourneySpec) -> dict[str, Any]:
    """Entries by status and end reason, conversions, and per step: entered (reached),
    waiting (there now), done, sent, skipped, timed out, converted."""
    je = journey_entries
    status: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    for state, reason, count in conn.execute(
        select(je.c.status, je.c.end_reason, func.count())
        .where(je.c.journey == journey.name)
        .group_by(je.c.status, je.c.end_reason)
    ):
        status[str(state)] += int(count)
        if reason is not None:
            ends[str(reason)] += int(count)
    converted = conn.execute(
        select(func.count()).where(je.c.journey == journey.name, je.c.converted_at.is_not(None))
    ).scalar_one()
    here: Counter[str] = Counter()
    for step, count in conn.execute(
        select(je.c.step, func.count())
        .where(je.c.journey == journey.name, je.c.status == "active")
        .group_by(je.c.step)
    ):
        here[str(step)] = int(count)
    counts = step_counts(conn, journey.name)
    steps = []
    for step in journey.steps:
        outcomes = counts.get(step.id, Counter())
        steps.append(
            {
                "step": step.id,
                "kind": step.kind,
                "entered": sum(outcomes.values()) + here[step.id],
                "waiting": here[step.id],
                "done": sum(outcomes.values()),
                "sent": outcomes["sent"],
                "failed": outcomes["failed"] + outcomes["unknown"],
                "skipped": outcomes["skipped"],
                "timed_out": outcomes["timed_out"],
                "converted": _converted_at_step(conn, journey.name, step.id),
            }
        )
    return {
        "journey": journey.name,
        "title": journey.title,
        "entered": sum(status.values()),
        "active": status["active"],
        "done": status["done"],
        "exited": status["exited"],
        "converted": int(converted),
        "end_reasons": dict(sorted(ends.items())),
        "steps": steps,
    }


def _converted_at_step(conn: Connection, journey: str, step: str) -> int:
    """Converted entries that went through this step."""
    from passcli.store.schema import journey_steps

    je, js = journey_entries, journey_steps
    return int(
        conn.execute(
            select(func.count())
            .select_from(js.join(je, je.c.id == js.c.entry_id))
            .where(js.c.journey == journey, js.c.step == step, je.c.converted_at.is_not(None))
        ).scalar_one()
    )


def exit_customer(conn: Connection, journey: JourneySpec, customer_id: str, now: datetime) -> int:
    """`journey exit`: the customer's active entry recorded exited (end_reason manual)."""
    _require_customer(conn, customer_id)
    return exit_entries(conn, journey.name, customer_id, "manual", now)


def _require_customer(conn: Connection, customer_id: str) -> None:
    found = conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first()
    if found is None:
        raise NotFoundError(f"unknown customer {customer_id!r}")


def preview_path(
    conn: Connection,
    project: Project,
    journey: JourneySpec,
    customer_id: str,
    now: datetime,
    tz: tzinfo,
) -> dict[str, Any]:
    """The steps this customer would take if they entered now, up to the first delay or
    wait (or the end); sends say whether the message's channel and consent allow it."""
    _require_customer(conn, customer_id)
    compiler = SegmentCompiler(project.segments, now, tz)
    c = customers.c
    row = conn.execute(select(customers).where(c.id == customer_id)).one()
    path: list[dict[str, Any]] = []
    step = journey.steps[0] if journey.steps else None
    stop = "end"
    while step is not None:
        action = step.action
        item: dict[str, Any] = {"step": step.id, "kind": step.kind}
        path.append(item)
        if isinstance(action, Send):
            from passcli.messages.audience import decide

            decision = decide(_Row(row), project.messages[action.message])
            item["message"] = action.message
            item["channel"] = decision.channel
            item["skip"] = decision.reason
        elif isinstance(action, DelayStep | WaitFor):
            stop = "delay" if isinstance(action, DelayStep) else "wait"
            break
        elif isinstance(action, Split):
            test = compiler.compile(action.condition).test
            met = conn.execute(select(c.id).where(c.id == customer_id, test(c.id))).first()
            target = action.then if met is not None else action.else_
            item["goes_to"] = target
            step = journey.step(target)
            continue
        elif isinstance(action, End):
            break
        step = journey.after(step)
    in_entry = None
    if journey.entry.segment is not None:
        query = compiler.query(journey.entry.segment).subquery()
        in_entry = (
            conn.execute(select(query.c[0]).where(query.c[0] == customer_id)).first() is not None
        )
    return {
        "journey": journey.name,
        "customer_id": customer_id,
        "in_entry_segment": in_entry,
        "steps": path,
        "stops_at": stop,
    }


class _Row:
    """A customer row as `decide` reads a candidate (nothing sent yet)."""

    def __init__(self, row: Any) -> None:
        self._row = row
        self.already_sent = False
        self.in_this_occurrence = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)
