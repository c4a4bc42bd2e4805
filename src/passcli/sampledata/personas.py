"""Hand-shaped customers that make every SPEC §3 segment non-empty, and probe its edges.

Random histories make segments large but not certain, and never exercise the boundaries
(exactly 100 points, revenue exactly 300, an order exactly 90 days ago, a purchase at a local
midnight). These personas are written out whatever the sample size, so every segment has
members and every boundary has a customer on each side. Times are wall-clock times in the
organisation's zone (America/Denver); "now" is 2026-11-22 10:00 there.

The data lives in `persona_table.py`; this module defines its shape and writes it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from passcli.sampledata.catalog import ITEM_BY_ID, LOCATIONS_BY_PASS
from passcli.sampledata.clock import DAY, MINUTE
from passcli.sampledata.records import Sink

PAID_ONLINE = ("online", "app")


@dataclass(frozen=True)
class Buy:
    """A purchase; online and app purchases of priced items also send "Order Completed"."""

    item: str
    at: str
    channel: str = "online"
    status: str = "active"
    expires: str | None = None
    """An explicit local expiry; None leaves expires_at blank for the importer to derive."""
    refunded: str | None = None
    """When the refund went through ("Order Refunded"); only with status refunded."""


@dataclass(frozen=True)
class Visits:
    """Check-ins on a pass: one per location, `every_days` apart from `first`."""

    pass_id: str
    first: str
    every_days: int
    locations: tuple[str, ...]


@dataclass(frozen=True)
class Order:
    """A shop order ("Product Viewed", then "Order Completed") outside purchases.csv."""

    at: str
    revenue: float
    refunded: str | None = None


@dataclass(frozen=True)
class Persona:
    """One hand-written customer; `role` says what it is for (shown in examples/README.md)."""

    role: str
    first: str
    last: str
    email: str
    phone: str
    tz: str
    city: str
    created: str
    birthday: str = ""
    email_opt_in: str = "true"
    sms_opt_in: str = "false"
    signup: str = "web"
    buys: tuple[Buy, ...] = ()
    visits: tuple[Visits, ...] = ()
    orders: tuple[Order, ...] = ()
    sessions: tuple[str, ...] = ()
    identifies: tuple[tuple[str, dict[str, str]], ...] = field(default=())


def customer_row(customer_id: str, p: Persona, created: str) -> str:
    """The customers.csv row of a persona."""
    return ",".join(
        (
            customer_id,
            p.email,
            p.phone,
            p.first,
            p.last,
            p.tz,
            created,
            p.email_opt_in,
            p.sms_opt_in,
            p.city,
            p.birthday,
        )
    )


def emit_persona(sink: Sink, customer_id: str, p: Persona) -> None:
    """Write one persona's customer row and its whole history."""
    local = sink.clock.local
    created = local(p.created)
    sink.customer(customer_row(customer_id, p, sink.clock.iso(created)))
    sink.track(created, customer_id, "Signed Up", f'{{"method":"{p.signup}"}}')
    for buy in p.buys:
        item = ITEM_BY_ID[buy.item]
        at = local(buy.at)
        expires = None if buy.expires is None else local(buy.expires)
        sink.purchase(
            at, customer_id, item.id, buy.channel, expires, buy.status, item.price_quarters
        )
        if item.kind == "pass" and at - 7 * MINUTE > created:
            sink.track(at - 7 * MINUTE, customer_id, "Pass Viewed", f'{{"pass":"{item.id}"}}')
        if buy.channel in PAID_ONLINE and item.price_quarters:
            refund = None if buy.refunded is None else local(buy.refunded)
            sink.order(at, customer_id, item.price_quarters, refund)
    for visits in p.visits:
        points = LOCATIONS_BY_PASS[visits.pass_id]
        first = local(visits.first)
        for n, location in enumerate(visits.locations):
            ts = first + n * visits.every_days * DAY
            sink.redemption(ts, customer_id, visits.pass_id, location, points[location])
    for number, order in enumerate(p.orders):
        at = local(order.at)
        quarters = round(order.revenue * 4)
        price = repr(quarters / 4)
        product = f'{{"product_id":"sku-{(number * 37 + len(p.last)) % 400:04d}","price":{price}}}'
        sink.track(at - 12 * MINUTE, customer_id, "Product Viewed", product)
        sink.order(
            at, customer_id, quarters, None if order.refunded is None else local(order.refunded)
        )
    for session in p.sessions:
        sink.track(local(session), customer_id, "Session Started", '{"platform":"web"}')
    for when, traits in p.identifies:
        base = {"email": p.email, "firstName": p.first, "lastName": p.last, "phone": p.phone}
        sink.identify(local(when), customer_id, {**base, "timezone": p.tz, **traits})


def emit_arrivals(sink: Sink, first_number: int) -> list[str]:
    """Two people known only from events: identify calls for userIds not in customers.csv.

    They signed up after the customer export, as happens with a live site: importing events
    creates them (SPEC §2). Returns their ids.
    """
    local = sink.clock.local
    first = f"c{first_number:07d}"
    second = f"c{first_number + 1:07d}"
    sink.track(local("2026-11-22 09:39"), first, "Signed Up", '{"method":"app"}')
    sink.identify(
        local("2026-11-22 09:40"),
        first,
        {
            "email": "wren.castellanos@example.com",
            "firstName": "Wren",
            "lastName": "Castellanos",
            "timezone": "America/Denver",
        },
    )
    sink.track(local("2026-11-22 09:41"), first, "Session Started", '{"platform":"ios"}')
    sink.track(local("2026-11-22 09:44"), first, "Pass Viewed", '{"pass":"explorer-pass"}')
    sink.identify(
        local("2026-11-22 09:55"),
        second,
        {"email": "Idris.Kane@Example.org", "phone": "+13035550199", "firstName": "Idris"},
    )
    return [first, second]
