"""One customer's profile and history, as `passcli customer show` presents it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, func, literal, select

from passcli.delivery.log import LOG_COLUMNS, delivery_log
from passcli.errors import NotFoundError
from passcli.groups.members import group_ref
from passcli.groups.spec import GroupsFile
from passcli.segments.compile import SegmentCompiler
from passcli.store.schema import (
    CUSTOMER_FIELDS,
    consent_changes,
    customers,
    events,
    items,
    purchases,
    redemptions,
)

PROFILE_FIELDS = (*CUSTOMER_FIELDS, "attributes")


@dataclass(frozen=True)
class CustomerProfile:
    customer: dict[str, Any]
    purchases: list[dict[str, Any]]
    redemptions: list[dict[str, Any]]
    events: list[dict[str, Any]]
    event_count: int
    deliveries: list[dict[str, Any]]
    consent: list[dict[str, Any]]  # every change of an opt-in, oldest first


def load_profile(conn: Connection, customer_id: str, event_limit: int = 20) -> CustomerProfile:
    """The customer's fields, every purchase and redemption, their latest events, and every
    delivery to them."""
    row = conn.execute(
        select(*(customers.c[name] for name in PROFILE_FIELDS)).where(customers.c.id == customer_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    bought = conn.execute(
        select(
            purchases.c.id,
            purchases.c.item,
            items.c.name.label("item_name"),
            items.c.kind.label("item_kind"),
            purchases.c.channel,
            purchases.c.purchased_at,
            purchases.c.expires_at,
            purchases.c.status,
            purchases.c.amount,
        )
        .join(items, items.c.id == purchases.c.item)
        .where(purchases.c.customer_id == customer_id)
        .order_by(purchases.c.purchased_at, purchases.c.id)
    )
    redeemed = conn.execute(
        select(
            redemptions.c.id,
            redemptions.c["pass"],
            redemptions.c.location,
            redemptions.c.redeemed_at,
            redemptions.c.points,
        )
        .where(redemptions.c.customer_id == customer_id)
        .order_by(redemptions.c.redeemed_at, redemptions.c.id)
    )
    latest = conn.execute(
        select(events.c.message_id, events.c.event, events.c.ts, events.c.properties)
        .where(events.c.customer_id == customer_id)
        .order_by(events.c.ts.desc(), events.c.id.desc())
        .limit(event_limit)
    )
    count = conn.execute(
        select(func.count()).select_from(events).where(events.c.customer_id == customer_id)
    ).scalar_one()
    received = delivery_log(conn, customer_id=customer_id)
    k = consent_changes.c
    changes = conn.execute(
        select(k.channel, k.opted_in, k.source, k.at, k.detail)
        .where(k.customer_id == customer_id)
        .order_by(k.at, k.id)
    )
    return CustomerProfile(
        customer=dict(row._mapping),
        purchases=[dict(p._mapping) for p in bought],
        redemptions=[dict(r._mapping) for r in redeemed],
        events=[dict(e._mapping) for e in latest],
        event_count=count,
        deliveries=[{k: d[k] for k in LOG_COLUMNS if k != "customer_id"} for d in received],
        consent=[dict(c._mapping) for c in changes],
    )


def groups_of(
    conn: Connection, groups: GroupsFile, customer_id: str, now: datetime, tz: tzinfo
) -> list[str]:
    """The groups the customer is a member of now, in groups.yaml's order."""
    compiler = SegmentCompiler({}, now, tz)
    found = []
    for name in groups.groups:
        test = compiler.compile(group_ref(groups, name)).test(literal(customer_id))
        if conn.execute(select(test)).scalar():
            found.append(name)
    return found
