"""Carrier status of sent texts, from Twilio's status callbacks (SPEC §11).

Twilio posts a callback each time a message it took changes status. Callbacks may arrive
late and out of order (a `sent` after the `delivered` that followed it), so each status has a
rank in Twilio's lifecycle and a delivery keeps the highest it has seen: a callback of a lower
rank changes nothing. Two statuses of the same rank (a repeated callback, or `undelivered`
after `delivered`, which Twilio does not do in practice) leave the latest one received.

The carrier status lives in its own columns: a delivery the carrier could not deliver stays
`sent` in the ledger (it went out, and frequency caps count it), with `carrier_status`
`undelivered` and the carrier's error code beside it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from passcli.delivery.base import CARRIER_UNSUBSCRIBED
from passcli.delivery.courier import mark_carrier_unsubscribed
from passcli.store.schema import customers, deliveries

# Twilio's outbound message statuses in lifecycle order ("Outbound Message Status in Status
# Callbacks"): accepted/scheduled (Messaging Service), queued, sending, sent, then a final
# delivered, undelivered, failed or canceled; read (WhatsApp, RCS) follows delivered.
CARRIER_STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}


class Applied(enum.Enum):
    """What a status callback did."""

    RECORDED = "recorded"
    STALE = "stale"  # older than the status already recorded: ignored
    UNKNOWN_MESSAGE = "unknown_message"  # no delivery has that provider id
    UNKNOWN_STATUS = "unknown_status"  # a status Twilio may add later: ignored


@dataclass(frozen=True)
class CarrierStatus:
    """One status callback: Twilio's MessageSid, MessageStatus and ErrorCode (or None)."""

    provider_id: str
    status: str
    error: str | None = None


def apply_carrier_status(conn: Connection, report: CarrierStatus, now: datetime) -> Applied:
    """Record `report` on the deliveries sent with its provider id, unless they already hold
    a later status; error 21610 opts the customer out of SMS as a send's 21610 does. Runs in
    the caller's write transaction; the rows are locked first (PostgreSQL) so two callbacks
    for one message at once keep the later status."""
    rank = CARRIER_STATUS_RANK.get(report.status)
    if rank is None:
        return Applied.UNKNOWN_STATUS
    d = deliveries.c
    found = conn.execute(
        select(d.id, d.customer_id, d.channel, d.carrier_status)
        .where(d.provider_id == report.provider_id)
        .with_for_update()
    ).all()
    if not found:
        return Applied.UNKNOWN_MESSAGE
    newer = [
        row
        for row in found
        if row.carrier_status is None or CARRIER_STATUS_RANK.get(row.carrier_status, -1) <= rank
    ]
    if not newer:
        return Applied.STALE
    conn.execute(
        update(deliveries)
        .where(d.id.in_([row.id for row in newer]))
        .values(carrier_status=report.status, carrier_error=report.error, carrier_status_at=now)
    )
    if report.error == str(CARRIER_UNSUBSCRIBED):
        for customer_id in {row.customer_id for row in newer if row.channel == "sms"}:
            if customer_id is not None and _still_texted(conn, customer_id):
                mark_carrier_unsubscribed(conn, customer_id, now)
    return Applied.RECORDED


def _still_texted(conn: Connection, customer_id: str) -> bool:
    """Whether a carrier opt-out would change anything: not when the customer is already
    opted out by the carrier (a repeated callback) or by their own STOP or link."""
    c = customers.c
    row = conn.execute(
        select(c.sms_opt_in, c.sms_consent_source).where(c.id == customer_id)
    ).first()
    if row is None:
        return False
    return not (row.sms_opt_in is False and row.sms_consent_source in ("person", "carrier"))
