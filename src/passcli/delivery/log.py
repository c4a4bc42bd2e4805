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
)


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
