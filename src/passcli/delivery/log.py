"""Delivery history, as `passcli log` and `customer show` present it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from passcli.store.schema import deliveries

LOG_COLUMNS = (
    "message",
    "occurrence",
    "customer_id",
    "channel",
    "to",
    "status",
    "at",
    "error",
    # What the carrier reported for a text (Twilio status callbacks), None until it does.
    "carrier_status",
    "carrier_error",
    "carrier_status_at",
)
# `passcli log`'s table: the carrier's three fields in one column (`undelivered 30003`).
LOG_TABLE_COLUMNS = (*LOG_COLUMNS[:-3], "carrier")


def carrier_label(row: dict[str, Any]) -> str | None:
    """The carrier's status and error code of a delivery as one cell, or None."""
    status, error = row["carrier_status"], row["carrier_error"]
    if status is None:
        return None
    return f"{status} {error}" if error else status


def delivery_log(
    conn: Connection,
    message: str | None = None,
    customer_id: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Deliveries, newest first, optionally of one message and/or one customer."""
    d = deliveries.c
    query = select(
        d.message,
        d.occurrence,
        d.customer_id,
        d.channel,
        d.address.label("to"),
        d.status,
        d.updated_at.label("at"),
        d.error,
        d.carrier_status,
        d.carrier_error,
        d.carrier_status_at,
        d.kind,
        d.fingerprint,
        d.provider_id,
        d.attempts,
    ).order_by(d.updated_at.desc(), d.id.desc())
    if message is not None:
        query = query.where(d.message == message)
    if customer_id is not None:
        query = query.where(d.customer_id == customer_id)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]
