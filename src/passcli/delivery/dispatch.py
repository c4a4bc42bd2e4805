"""One occurrence of a message, end to end: audience, decisions, rendering, then delivery.

The dispatcher plans: candidates stream from one query in batches, each is decided and
rendered, and the batch is queued in the ledger as `pending` deliveries (`queue.plan`).
Couriers deliver the queue (`courier`): with one worker the calling thread drains each
batch right after planning it; with more, a crew of threads or processes works alongside
the planner. Memory does not grow with the audience either way.

A journey's send step gives its customers (`members=`) instead of the message's segments,
and an `outcome` hook to learn, per customer, whether they were skipped and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine, Select, select

from passcli.branding import Branding
from passcli.delivery import stream
from passcli.delivery.courier import Courier
from passcli.delivery.ledger import SendKey
from passcli.delivery.queue import Content, Planned, plan
from passcli.delivery.report import Recipient, SendReport
from passcli.delivery.transports import Sleep, Transports
from passcli.delivery.workers import Crew, Workers
from passcli.messages.audience import (
    ZoneFilter,
    candidates_query,
    decide,
    members_query,
    valid_address,
)
from passcli.messages.compose import MessageTemplates, template_variables
from passcli.messages.render import RenderError
from passcli.messages.spec import DEFAULT_MISFIRE_GRACE, MessageSpec
from passcli.policy.holds import FREQUENCY_CAP, QUIET_HOURS, Held, hold, record_skips
from passcli.policy.rules import SendRules
from passcli.segments.spec import SegmentSpec
from passcli.store.engine import read_transaction, writer
from passcli.store.schema import items

__all__ = ["Dispatcher", "Occurrence", "Outcome", "Recipient", "SendReport"]

BATCH = 500

# Told, for each candidate as it is decided: the customer id, and the reason they were
# skipped, or None when their delivery is in the ledger (planned now, or by an earlier run).
Outcome = Callable[[str, str | None], None]


@dataclass
class Occurrence:
    """What is being sent and when: the ledger's send key, and the label reports show."""

    send: SendKey
    label: str
    # After this a delivery held by quiet hours is no longer sent: the occurrence plus its
    # misfire_grace (default: the send's instant plus the message's misfire_grace).
    deadline: datetime | None = None


@dataclass
class Dispatcher:
    engine: Engine
    segments: dict[str, SegmentSpec]
    branding: Branding
    transports: Transports
    tz: tzinfo
    sleep: Sleep
    run_id: str | None = None  # required unless dry_run
    retry_unknown: bool = False
    progress: Callable[[int], None] | None = None
    workers: Workers = field(default_factory=Workers)
    rules: SendRules = field(default_factory=SendRules)

    def deliver(
        self,
        name: str,
        spec: MessageSpec,
        occurrence: Occurrence,
        now: datetime,
        dry_run: bool = False,
        limit: int | None = None,
        zones: ZoneFilter | None = None,
        members: Select[Any] | None = None,
        outcome: Outcome | None = None,
    ) -> SendReport:
        """Send one occurrence. `members` (a SELECT of customer ids labelled `customer_id`)
        replaces the message's segments, exclude and subscription group: a journey's step
        names its customers."""
        report = SendReport(name, now, occurrence.label, dry_run)
        batches = self._plan(
            name, spec, occurrence, now, dry_run, limit, zones, report, members, outcome
        )
        if dry_run:
            for _ in batches:
                pass
            return report
        assert self.run_id is not None, "a real send needs a run (lease)"
        key = occurrence.send.key
        if self.workers.count == 1:
            courier = Courier(
                self.engine, self.branding, self.transports, self.sleep, self.run_id, now
            )
            for _ in batches:
                courier.drain(key, report, exhaustive=False)  # the batch just planned
            courier.drain(key, report)  # and any other: queued again, or an earlier run's
            return report
        crew = Crew(
            self.workers,
            self.engine,
            self.branding,
            self.transports,
            self.sleep,
            self.run_id,
            now,
            key,
        ).start()
        try:
            for _ in batches:
                pass
        except BaseException:
            crew.stop()
            raise
        crew.finish(report)
        return report

    def _plan(
        self,
        name: str,
        spec: MessageSpec,
        occurrence: Occurrence,
        now: datetime,
        dry_run: bool,
        limit: int | None,
        zones: ZoneFilter | None,
        report: SendReport,
        members: Select[Any] | None = None,
        outcome: Outcome | None = None,
    ) -> Iterator[int]:
        """Decide and render every candidate, queueing each batch; yields after each batch
        (how many it queued). A dry run queues nothing and lists who would receive it."""
        templates = MessageTemplates(spec)
        pass_name = self._pass_name(spec)
        if members is None:
            members = members_query(self.segments, spec, now, self.tz)
        told: Outcome = outcome if outcome is not None else _ignore
        query = candidates_query(
            members, name, spec, occurrence.send.key, now, zones, self.retry_unknown
        )
        attempted = 0
        capped = self.rules.caps.applicable(spec)
        deadline = occurrence.deadline or now + timedelta(seconds=_grace(spec))
        with writer(self.engine) as conn:
            for batch in stream.batches(self.engine, query, BATCH):
                decided: list[tuple[Any, str]] = []
                for row in batch:
                    report.audience += 1
                    decision = decide(row, spec)
                    if decision.channel is None:
                        report.skipped[decision.reason or "unknown"] += 1
                        told(row.id, decision.reason or "unknown")
                    else:
                        decided.append((row, decision.channel))
                tally = None
                if capped and decided:
                    with conn.begin():
                        tally = self.rules.caps.tally(
                            conn, [(row.id, channel, spec) for row, channel in decided], now
                        )
                ready: list[Planned] = []
                held: list[Held] = []
                over_cap: list[Planned] = []
                for row, channel in decided:
                    address = row.email if channel == "email" else row.phone
                    if tally is not None and not tally.admit(row.id, channel, spec):
                        report.skipped[FREQUENCY_CAP] += 1
                        over_cap.append(Planned(row.id, row.id, channel, address, _NO_CONTENT))
                        told(row.id, FREQUENCY_CAP)
                        continue
                    if limit is not None and attempted >= limit:
                        report.held += 1  # beyond --limit: left eligible for a later send
                        report.holds["limit"] += 1
                        continue
                    try:
                        variables = template_variables(
                            row,
                            channel,
                            self.branding,
                            occurrence.send.key,
                            pass_name,
                            now,
                            self.tz,
                        )
                        rendered = templates.render(channel, variables)
                    except RenderError:
                        report.skipped["render_error"] += 1
                        told(row.id, "render_error")
                        continue
                    if not valid_address(channel, address):
                        report.skipped["invalid_address"] += 1
                        told(row.id, "invalid_address")
                        continue
                    attempted += 1
                    # The email's List-Unsubscribe header: the same signed link as its body's.
                    one_click = (
                        variables["unsubscribeLink"]
                        if channel == "email" and self.branding.secret_key
                        else None
                    )
                    content = Content(rendered.body, rendered.subject, rendered.html, one_click)
                    item = Planned(row.id, row.id, channel, address, content)
                    told(row.id, None)
                    until = self._quiet_until(spec, row, channel, now)
                    if until is not None:
                        report.held += 1
                        report.holds[QUIET_HOURS] += 1
                        held.append(Held(item, until))
                    else:
                        ready.append(item)
                if dry_run:
                    for item in ready:
                        report.sent[item.channel] += 1
                        report.add(Recipient(item.recipient, item.channel, item.address, "dry_run"))
                    queued = 0
                else:
                    with conn.begin():
                        planned = plan(conn, occurrence.send, ready, now, self.retry_unknown)
                        hold(conn, occurrence.send, held, deadline, now)
                        record_skips(conn, occurrence.send, over_cap, FREQUENCY_CAP, now)
                    queued = planned.pending
                    for status in planned.held.values():
                        if status == "failed":
                            report.failed += 1
                        else:
                            report.skipped["already_sent"] += 1
                if self.progress is not None:
                    self.progress(report.audience)
                yield queued

    def _quiet_until(
        self, spec: MessageSpec, row: Any, channel: str, now: datetime
    ) -> datetime | None:
        """When the customer's quiet hours end, if a send to them now is inside them."""
        quiet = self.rules.quiet
        if quiet is None or spec.ignore_quiet_hours:
            return None
        return quiet.held_until(row.timezone, channel, now)

    def _pass_name(self, spec: MessageSpec) -> str | None:
        if spec.pass_ is None:
            return None
        with read_transaction(self.engine) as conn:
            name = conn.execute(select(items.c.name).where(items.c.id == spec.pass_)).scalar()
        return str(name) if name is not None else spec.pass_


def _grace(spec: MessageSpec) -> int:
    """The message's misfire_grace in seconds (24 hours unless its schedule says)."""
    grace = spec.schedule.misfire_grace if spec.schedule else DEFAULT_MISFIRE_GRACE
    return grace.seconds


# A skipped delivery's row carries no message.
_NO_CONTENT = Content("")


def _ignore(customer_id: str, reason: str | None) -> None:
    """No one asked for each customer's outcome."""
