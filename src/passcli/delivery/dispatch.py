"""One occurrence of a message, end to end: audience, decisions, render, claim, send, record.

Memory does not grow with the audience: candidates stream from one query in batches, and
each batch is claimed (committed as `sending`), sent and recorded before the next is read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from passcli.branding import Branding
from passcli.delivery.base import CARRIER_UNSUBSCRIBED, Outgoing
from passcli.delivery.ledger import (
    Claim,
    Outcome,
    SendKey,
    claim,
    record,
    start_sending,
    start_sending_many,
)
from passcli.delivery.spool import Spool
from passcli.delivery.transports import Sleep, Transports, send_with_retries
from passcli.delivery.unsubscribe import Claims, make_token, unsubscribe_link
from passcli.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from passcli.messages.audience import (
    Decision,
    ZoneFilter,
    candidates_query,
    decide,
    members_query,
    valid_address,
)
from passcli.messages.compose import MessageTemplates, Rendered, template_variables
from passcli.messages.render import RenderError
from passcli.messages.spec import MessageSpec
from passcli.segments.spec import SegmentSpec
from passcli.store.engine import read_transaction, writer
from passcli.store.schema import consent_changes, customers, items
from passcli.timeutil import iso_utc

BATCH = 500
# Deliveries are claimed, sent and recorded RECORD_EVERY at a time: after a crash, at most
# that many are left `unknown` (a duplicate is worse than a miss, so they are not resent).
RECORD_EVERY = 25


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    channel: str
    to: str
    status: str  # sent | failed | dry_run

    def to_json(self) -> dict[str, str]:
        return {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "to": self.to,
            "status": self.status,
        }


@dataclass
class SendReport:
    message: str
    at: datetime
    occurrence: str
    dry_run: bool
    audience: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"email": 0, "sms": 0})
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    held: int = 0
    recipients: Spool = field(default_factory=Spool)

    def add(self, recipient: Recipient) -> None:
        self.recipients.append(recipient.to_json())

    def to_json(self) -> dict[str, Any]:
        """The SPEC §5 document; `recipients` stays a Spool (see cli.output.print_json)."""
        return {
            "message": self.message,
            "at": self.at,
            "occurrence": self.occurrence,
            "dry_run": self.dry_run,
            "audience": self.audience,
            "sent": dict(self.sent),
            "failed": self.failed,
            "skipped": dict(sorted(self.skipped.items())),
            "held": self.held,
            "recipients": self.recipients,
        }

    def counts(self) -> dict[str, Any]:
        """The totals without recipients, as kept with an occurrence."""
        document = self.to_json()
        del document["recipients"]
        document["at"] = iso_utc(self.at)
        return document


@dataclass
class Occurrence:
    """What is being sent and when: the ledger's send key, and the label reports show."""

    send: SendKey
    label: str


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

    def deliver(
        self,
        name: str,
        spec: MessageSpec,
        occurrence: Occurrence,
        now: datetime,
        dry_run: bool = False,
        limit: int | None = None,
        zones: ZoneFilter | None = None,
    ) -> SendReport:
        report = SendReport(name, now, occurrence.label, dry_run)
        templates = MessageTemplates(spec)
        pass_name = self._pass_name(spec)
        members = members_query(self.segments, spec, now, self.tz)
        query = candidates_query(
            members, name, spec, occurrence.send.key, now, zones, self.retry_unknown
        )
        attempted = 0
        with read_transaction(self.engine) as reader:
            rows = reader.execution_options(yield_per=BATCH).execute(query)
            for batch in _batches(rows):
                ready: list[tuple[Any, Decision, Rendered]] = []
                for row in batch:
                    report.audience += 1
                    decision = decide(row, spec)
                    if decision.channel is None:
                        report.skipped[decision.reason or "unknown"] += 1
                        continue
                    if limit is not None and attempted >= limit:
                        report.held += 1  # beyond --limit: left eligible for a later send
                        continue
                    try:
                        variables = template_variables(
                            row,
                            decision.channel,
                            self.branding,
                            occurrence.send.key,
                            pass_name,
                            now,
                            self.tz,
                        )
                        rendered = templates.render(decision.channel, variables)
                    except RenderError:
                        report.skipped["render_error"] += 1
                        continue
                    address = row.email if decision.channel == "email" else row.phone
                    if not valid_address(decision.channel, address):
                        report.skipped["invalid_address"] += 1
                        continue
                    attempted += 1
                    ready.append((row, decision, rendered))
                if dry_run:
                    for row, decision, _ in ready:
                        address = row.email if decision.channel == "email" else row.phone
                        report.sent[decision.channel or "email"] += 1
                        report.add(Recipient(row.id, decision.channel or "", address, "dry_run"))
                else:
                    self._send_batch(ready, occurrence, now, report)
                if self.progress is not None:
                    self.progress(report.audience)
        return report

    def _pass_name(self, spec: MessageSpec) -> str | None:
        if spec.pass_ is None:
            return None
        with read_transaction(self.engine) as conn:
            name = conn.execute(select(items.c.name).where(items.c.id == spec.pass_)).scalar()
        return str(name) if name is not None else spec.pass_

    def _one_click_link(self, customer_id: str, item: Claim, occurrence: Occurrence) -> str | None:
        """The List-Unsubscribe link of an email (RFC 8058)."""
        if item.channel != "email" or not self.branding.secret_key:
            return None
        claims = Claims(customer_id, "email", occurrence.send.key)
        return unsubscribe_link(
            self.branding.unsubscribe_url, make_token(self.branding.secret_key, claims)
        )

    def _send_batch(
        self,
        ready: list[tuple[Any, Decision, Rendered]],
        occurrence: Occurrence,
        now: datetime,
        report: SendReport,
    ) -> None:
        """Claim, send and record in chunks of RECORD_EVERY: a crash leaves at most one
        chunk `sending` (then `unknown`), whether its messages went out or not."""
        with writer(self.engine) as conn:
            for start in range(0, len(ready), RECORD_EVERY):
                chunk = ready[start : start + RECORD_EVERY]
                self._send_chunk(conn, chunk, occurrence, now, report)

    def _send_chunk(
        self,
        conn: Connection,
        ready: list[tuple[Any, Decision, Rendered]],
        occurrence: Occurrence,
        now: datetime,
        report: SendReport,
    ) -> None:
        assert self.run_id is not None, "a real send needs a run (lease)"
        claims = [
            Claim(
                recipient=row.id,
                customer_id=row.id,
                channel=decision.channel or "",
                address=row.email if decision.channel == "email" else row.phone,
            )
            for row, decision, _ in ready
        ]
        with conn.begin():
            claimed = claim(conn, occurrence.send, claims, self.run_id, now, self.retry_unknown)
            # Idempotent transports (the outbox) start the whole chunk at once.
            batchable = [
                claimed.owned[item.recipient]
                for item in claims
                if item.recipient in claimed.owned
                and getattr(self.transports.get(item.channel), "idempotent", False)
            ]
            started = start_sending_many(conn, batchable, self.run_id, now)
        outcomes: list[Outcome] = []
        carrier_stops: list[str] = []
        for (row, _, rendered), item in zip(ready, claims, strict=True):
            delivery_id = claimed.owned.get(row.id)
            if delivery_id is None:
                status = claimed.held.get(row.id, "queued")
                if status == "failed":
                    report.failed += 1
                else:
                    report.skipped["already_sent"] += 1
                continue
            outgoing = Outgoing(
                channel=item.channel,
                to=item.address,
                body=rendered.body,
                key=f"{occurrence.send.key}-{row.id}",
                date=now,
                subject=rendered.subject,
                html=rendered.html,
                unsubscribe_url=self._one_click_link(row.id, item, occurrence),
            )
            if delivery_id in batchable:
                if delivery_id not in started:
                    continue  # released meanwhile (this run was presumed dead): not ours now
            else:
                # One commit: the previous outcomes, and this delivery's move to `sending`. A
                # crash after it leaves exactly this delivery `unknown`.
                if not self._record(conn, outcomes, carrier_stops, now, start=delivery_id):
                    continue  # released meanwhile: not ours now
                outcomes, carrier_stops = [], []
            try:
                provider_id = send_with_retries(
                    self.transports.get(item.channel), outgoing, self.sleep
                )
            except UncertainDeliveryError as exc:
                # It may have gone out: record it as unknown, never resend it on our own.
                outcomes.append(Outcome(delivery_id, "unknown", error=str(exc)))
                report.failed += 1
                report.add(Recipient(row.id, item.channel, item.address, "unknown"))
                continue
            except (TransientDeliveryError, PermanentDeliveryError, ValueError) as exc:
                # ValueError: the message could not be built for this recipient (a header
                # the email package refuses); that recipient fails, the run goes on.
                transient = isinstance(exc, TransientDeliveryError)
                outcomes.append(Outcome(delivery_id, "failed", error=str(exc), retryable=transient))
                report.failed += 1
                report.add(Recipient(row.id, item.channel, item.address, "failed"))
                if getattr(exc, "code", None) == CARRIER_UNSUBSCRIBED:
                    carrier_stops.append(row.id)
                continue
            outcomes.append(Outcome(delivery_id, "sent", provider_id=provider_id))
            report.sent[item.channel] += 1
            report.add(Recipient(row.id, item.channel, item.address, "sent"))
        self._record(conn, outcomes, carrier_stops, now)

    def _record(
        self,
        conn: Connection,
        outcomes: list[Outcome],
        carrier_stops: list[str],
        now: datetime,
        start: int | None = None,
    ) -> bool:
        """Record outcomes (and carrier opt-outs), and move delivery `start` to `sending`,
        in one transaction. False when `start` is no longer this run's to send."""
        if not outcomes and not carrier_stops and start is None:
            return True
        assert self.run_id is not None
        with conn.begin():
            record(conn, outcomes, now, self.run_id)
            for customer_id in carrier_stops:
                mark_carrier_unsubscribed(conn, customer_id, now)
            return start is None or start_sending(conn, start, self.run_id, now)


def mark_carrier_unsubscribed(conn: Any, customer_id: str, now: datetime) -> None:
    """Twilio error 21610: the recipient texted STOP to this sender; imports never undo it."""
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(sms_opt_in=False, sms_consent_source="carrier")
    )
    conn.execute(
        insert(consent_changes).values(
            customer_id=customer_id,
            channel="sms",
            opted_in=False,
            source="carrier",
            at=now,
            detail=f"Twilio error {CARRIER_UNSUBSCRIBED}",
        )
    )


def _batches(rows: Any) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch
