"""A courier delivers a send's queue: claim a batch of pending deliveries, send, record.

Any number of couriers may work one send at once (threads or processes of one run, or
run-dues on other hosts): each claims its own batches (see `queue.claim_batch`). A
delivery is committed as `sending` right before its transport call, so a crash leaves only
what was in flight `unknown`, never resent on its own: a duplicate is worse than a miss.
Idempotent transports (the outbox: sending twice writes one file) skip `sending`: a batch is
sent and recorded straight from `queued`, and after a crash its rows go back to `pending`
and are sent again, which delivers them once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, insert, update

from passcli.branding import Branding
from passcli.delivery.base import CARRIER_UNSUBSCRIBED, Outgoing
from passcli.delivery.ledger import Outcome, record, start_sending
from passcli.delivery.queue import CLAIM_BATCH, Claimed, claim_batch
from passcli.delivery.report import Recipient, SendReport
from passcli.delivery.transports import Sleep, Transports, send_with_retries
from passcli.errors import PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError
from passcli.store.engine import writer
from passcli.store.schema import consent_changes, customers

# Deliveries of a transport that is not idempotent sent between two records (each is
# committed `sending` alone, in the commit that records the ones before it).
RECORD_EVERY = 25
# How long an idle courier waits before looking again for work still being planned.
IDLE_POLL_SECONDS = 0.05


class Signal(Protocol):
    """A flag couriers wait on: a threading.Event or a multiprocessing one."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass
class Courier:
    engine: Engine
    branding: Branding
    transports: Transports
    sleep: Sleep
    run_id: str
    now: datetime  # the send's instant: Date headers, ledger times
    batch: int = CLAIM_BATCH

    def __post_init__(self) -> None:
        # The last id claimed per send: the next claim starts after it (see queue.py).
        self._after: dict[str, int] = {}

    def drain(self, send_key: str, report: SendReport, *, exhaustive: bool = True) -> int:
        """Deliver pending deliveries of `send_key` until none is left; how many were
        claimed. Not `exhaustive`: only those planned after what this courier last claimed
        (the planner's own batch, with one worker), until a claim comes back short, without
        looking through the whole queue for older ones."""
        return self.work(send_key, report, planned=None, exhaustive=exhaustive)

    def work(
        self,
        send_key: str,
        report: SendReport,
        planned: Signal | None,
        alive: Callable[[], bool] = lambda: True,
        *,
        exhaustive: bool = True,
    ) -> int:
        """Deliver pending deliveries until the queue is empty and, when `planned` is
        given, planning has finished (it is set then). `alive` false stops the courier
        between batches (its parent is gone)."""
        claimed_total = 0
        after = self._after.get(send_key, 0)
        with writer(self.engine) as conn:
            while alive():
                # Read the flag before claiming: an empty claim after planning ended means
                # nothing more will come.
                finished = planned is None or planned.is_set()
                with conn.begin():
                    batch = self._claim(conn, send_key, after)
                    if not batch and after and finished and exhaustive:
                        # Nothing after the last claim: look once from the start (rows
                        # queued again keep their old id), before concluding it is empty.
                        batch = self._claim(conn, send_key, 0)
                if batch:
                    claimed_total += len(batch)
                    after = batch[-1].id
                    self._deliver(conn, send_key, batch, report)
                    if exhaustive or len(batch) == self.batch:
                        continue
                if finished:
                    break
                assert planned is not None
                planned.wait(IDLE_POLL_SECONDS)
        self._after[send_key] = after
        return claimed_total

    def _claim(self, conn: Connection, send_key: str, after: int) -> list[Claimed]:
        return claim_batch(conn, send_key, self.run_id, self.now, self.batch, after=after)

    def _deliver(
        self, conn: Connection, send_key: str, batch: list[Claimed], report: SendReport
    ) -> None:
        """An idempotent transport's deliveries are sent and then recorded, the whole batch
        at once: sending their messages again delivers them once, so a crash there costs
        nothing. Any other's turn `sending` one at a time, each in the commit that records
        the outcomes before it, RECORD_EVERY at most."""
        idempotent = {c.id for c in batch if self._idempotent(c.channel)}
        if len(idempotent) == len(batch):
            chunks = [batch]
        else:
            chunks = [batch[i : i + RECORD_EVERY] for i in range(0, len(batch), RECORD_EVERY)]
        for chunk in chunks:
            self._send_chunk(conn, send_key, chunk, report, idempotent)

    def _idempotent(self, channel: str) -> bool:
        return bool(getattr(self.transports.get(channel), "idempotent", False))

    def _send_chunk(
        self,
        conn: Connection,
        send_key: str,
        chunk: list[Claimed],
        report: SendReport,
        idempotent: set[int],
    ) -> None:
        outcomes: list[Outcome] = []
        carrier_stops: list[str] = []
        for item in chunk:
            if item.id not in idempotent:
                # One commit: the previous outcomes, and this delivery's move to `sending`. A
                # crash after it leaves exactly this delivery `unknown`.
                if not self._record(conn, outcomes, carrier_stops, start=item.id):
                    continue  # released meanwhile (this run was presumed dead): not ours now
                outcomes, carrier_stops = [], []
            outcome, carrier_stop = self._send_one(send_key, item)
            outcomes.append(outcome)
            customer = item.customer_id or item.recipient
            if outcome.status == "sent":
                report.sent[item.channel] += 1
            else:
                report.failed += 1
            if carrier_stop and item.customer_id is not None:
                carrier_stops.append(item.customer_id)
            report.add(Recipient(customer, item.channel, item.address, outcome.status))
        self._record(conn, outcomes, carrier_stops)

    def _send_one(self, send_key: str, item: Claimed) -> tuple[Outcome, bool]:
        """Send one delivery; its outcome, and whether the carrier says the recipient
        opted out (Twilio error 21610)."""
        outgoing = Outgoing(
            channel=item.channel,
            to=item.address,
            body=item.content.body,
            key=f"{send_key}-{item.recipient}",
            date=self.now,
            subject=item.content.subject,
            html=item.content.html,
            unsubscribe_url=item.content.unsubscribe_url,
        )
        try:
            provider_id = send_with_retries(self.transports.get(item.channel), outgoing, self.sleep)
        except UncertainDeliveryError as exc:
            # It may have gone out: record it as unknown, never resend it on our own.
            return Outcome(item.id, "unknown", error=str(exc)), False
        except (TransientDeliveryError, PermanentDeliveryError, ValueError) as exc:
            # ValueError: the message could not be built for this recipient (a header the
            # email package refuses); that recipient fails, the run goes on.
            transient = isinstance(exc, TransientDeliveryError)
            outcome = Outcome(item.id, "failed", error=str(exc), retryable=transient)
            return outcome, getattr(exc, "code", None) == CARRIER_UNSUBSCRIBED
        return Outcome(item.id, "sent", provider_id=provider_id), False

    def _record(
        self,
        conn: Connection,
        outcomes: list[Outcome],
        carrier_stops: list[str],
        start: int | None = None,
    ) -> bool:
        """Record outcomes (and carrier opt-outs), and move delivery `start` to `sending`,
        in one transaction. False when `start` is no longer this run's to send."""
        if not outcomes and not carrier_stops and start is None:
            return True
        with conn.begin():
            record(conn, outcomes, self.now, self.run_id)
            for customer_id in carrier_stops:
                mark_carrier_unsubscribed(conn, customer_id, self.now)
            return start is None or start_sending(conn, start, self.run_id, self.now)


def mark_carrier_unsubscribed(conn: Connection, customer_id: str, now: datetime) -> None:
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
