"""`passcli message test`: a message rendered for one real customer and sent to the seed list
of policy.yaml, marked `[TEST]` (SPEC §11).

Each seed is one row of the delivery ledger (kind `test`), like any send (SPEC §6): recorded
`sending` before its transport is called, `sent` or `failed` after, with retries. The row's
recipient is the address (`email:qa@example.com`, `sms:+13035550100`, as keyword replies to
unknown phones) and its customer_id is NULL, so nothing counted per customer counts it:
once_per_customer, frequency caps, journey and message reports, `customer show`. Each run has
its own send key (`test:NAME:CUSTOMER:<uuid>`), so the same test may be sent again at once;
the message's once-per-customer rule, caps and quiet hours never apply to it. The
unsubscribe link inside carries that send key: applying it changes nothing (see
`messages.tokens.Claims.from_test_send`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, select

from passcli.branding import Branding
from passcli.delivery.courier import Courier
from passcli.delivery.lease import Lease
from passcli.delivery.ledger import SendKey, WallClock
from passcli.delivery.queue import Content, Planned, plan
from passcli.delivery.report import SendReport
from passcli.delivery.transports import Sleep, Transports
from passcli.errors import NotFoundError, PasscliError, UsageError
from passcli.messages.audience import E164_RE, candidates_query, members_query
from passcli.messages.compose import MessageTemplates, template_variables
from passcli.messages.render import RenderError
from passcli.messages.spec import MessageSpec
from passcli.messages.tokens import TEST_SEND_PREFIX
from passcli.project import Project
from passcli.segments.compile import ID
from passcli.store.engine import read_transaction, write_transaction
from passcli.store.schema import customers, deliveries, items

MARK = "[TEST] "
# Which seeds a message's channel reaches: email seeds get the email, phone seeds the SMS.
FITS = {"email": ("email",), "sms": ("sms",), "any": ("email", "sms")}


@dataclass(frozen=True)
class SeedDelivery:
    """What happened for one seed address."""

    to: str
    channel: str  # email | sms: the seed's kind of address
    status: str  # sent | failed | skipped
    error: str | None = None  # why it failed, or why it was skipped

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to, "channel": self.channel, "status": self.status, "error": self.error}


@dataclass(frozen=True)
class SeedReport:
    message: str
    customer_id: str
    at: datetime
    send_key: str
    recipients: tuple[SeedDelivery, ...]

    @property
    def sent(self) -> int:
        return sum(1 for r in self.recipients if r.status == "sent")

    @property
    def failed(self) -> int:
        return sum(1 for r in self.recipients if r.status == "failed")

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.recipients if r.status == "skipped")

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "customer_id": self.customer_id,
            "at": self.at,
            "sent": self.sent,
            "failed": self.failed,
            "recipients": [r.to_json() for r in self.recipients],
        }


def seed_channel(address: str) -> str:
    """A seed is an E.164 phone number or an email address (policy.yaml checked which)."""
    return "sms" if E164_RE.match(address) else "email"


def send_test(
    engine: Engine,
    project: Project,
    name: str,
    *,
    customer_id: str | None,
    now: datetime,
    tz: tzinfo,
    branding: Branding,
    transports: Transports,
    wall_clock: WallClock,
    sleep: Sleep,
) -> SeedReport:
    """Render message `name` for a customer (`customer_id`, else the first member of its
    audience in customer-id order) and send it to every seed on the message's channel."""
    spec = project.messages.get(name)
    if spec is None:
        raise UsageError(f"unknown message {name!r}")
    seeds = list(dict.fromkeys(project.policy.seed_list))  # each address once, in order
    if not seeds:
        raise UsageError(
            "policy.yaml has no seed_list: add one (email addresses and E.164 phone numbers) "
            "to say who receives test sends"
        )
    if not branding.secret_key:
        raise UsageError(
            "PASSCLI_SECRET_KEY is required to send (it signs unsubscribe links); "
            "`passcli init` writes one into the project's .env"
        )
    with read_transaction(engine) as conn:
        if customer_id is None:
            customer_id = first_member(conn, project, spec, now, tz)
            if customer_id is None:
                raise NotFoundError(
                    f"message {name!r} has no members to render it for: "
                    "name a customer with --customer ID"
                )
        send = SendKey(
            key=f"{TEST_SEND_PREFIX}{name}:{customer_id}:{uuid.uuid4().hex}",
            kind="test",
            message=name,
            occurrence=f"{TEST_SEND_PREFIX}{customer_id}",
        )
        everyone = select(customers.c.id.label(ID)).where(customers.c.id == customer_id)
        row = conn.execute(candidates_query(everyone, name, spec, send.key, now)).first()
        if row is None:
            raise NotFoundError(f"no customer with id {customer_id!r}")
        pass_name = _pass_name(conn, spec)

    planned: list[Planned] = []
    skipped: dict[str, SeedDelivery] = {}
    contents: dict[str, Content] = {}
    for seed in seeds:
        channel = seed_channel(seed)
        if channel not in FITS[spec.channel]:
            reason = f"the message is sent by {spec.channel} only"
            skipped[seed] = SeedDelivery(seed, channel, "skipped", reason)
            continue
        if channel not in contents:
            variables = template_variables(row, channel, branding, send.key, pass_name, now, tz)
            contents[channel] = _render(name, spec, channel, variables)
        planned.append(Planned(f"{channel}:{seed}", None, channel, seed, contents[channel]))

    if planned:
        _deliver(engine, send, planned, now, branding, transports, wall_clock, sleep)
    results = _results(engine, send.key, seeds, skipped)
    return SeedReport(name, customer_id, now, send.key, results)


def _results(
    engine: Engine, send_key: str, seeds: list[str], skipped: dict[str, SeedDelivery]
) -> tuple[SeedDelivery, ...]:
    """Each seed's outcome, in the seed list's order, as the ledger recorded it."""
    d = deliveries.c
    with read_transaction(engine) as conn:
        rows = conn.execute(select(d.address, d.status, d.error).where(d.send_key == send_key))
        outcomes = {row.address: row for row in rows}
    results: list[SeedDelivery] = []
    for seed in seeds:
        found = outcomes.get(seed)
        if seed in skipped:
            results.append(skipped[seed])
        elif found is not None and found.status == "sent":
            results.append(SeedDelivery(seed, seed_channel(seed), "sent"))
        else:  # failed, or `unknown` (it may have gone out): not a success either way
            error = (found.error if found is not None else None) or "no outcome was recorded"
            results.append(SeedDelivery(seed, seed_channel(seed), "failed", error))
    return tuple(results)


def first_member(
    conn: Connection, project: Project, spec: MessageSpec, now: datetime, tz: tzinfo
) -> str | None:
    """The first member of the message's audience (segments minus exclude, within its
    subscription group) in customer-id order, or None."""
    members = members_query(project.segments, spec, now, tz).subquery()
    found = conn.execute(select(members.c[ID]).order_by(members.c[ID]).limit(1)).scalar()
    return str(found) if found is not None else None


def _pass_name(conn: Connection, spec: MessageSpec) -> str | None:
    if spec.pass_ is None:
        return None
    found = conn.execute(select(items.c.name).where(items.c.id == spec.pass_)).scalar()
    return str(found) if found is not None else spec.pass_


def _render(name: str, spec: MessageSpec, channel: str, variables: dict[str, Any]) -> Content:
    """The message on `channel`, marked as a test: the email's subject, or the text's body,
    starts with `[TEST] `. The email keeps its List-Unsubscribe link (a test token)."""
    try:
        rendered = MessageTemplates(spec).render(channel, variables)
    except RenderError as exc:
        raise PasscliError(
            f"message {name!r} cannot be rendered for customer {variables['customerId']!r}: {exc}"
        ) from exc
    if channel == "sms":
        return Content(MARK + rendered.body)
    subject = MARK + rendered.subject if rendered.subject else MARK.rstrip()
    return Content(rendered.body, subject, rendered.html, variables["unsubscribeLink"])


def _deliver(
    engine: Engine,
    send: SendKey,
    planned: list[Planned],
    now: datetime,
    branding: Branding,
    transports: Transports,
    wall_clock: WallClock,
    sleep: Sleep,
) -> None:
    """Queue the seeds' deliveries in the ledger and deliver them under a lease, as keyword
    replies are (`sms.inbound`): `sending` committed before each transport call."""
    report = SendReport(send.message or "", now, send.occurrence or "", False)
    try:
        # Made first: a transport the settings cannot make (Twilio without its account) is
        # bad usage before any row is written, not rows left queued for no one.
        for channel in sorted({item.channel for item in planned}):
            transports.get(channel)
        with Lease(engine, "message test", wall_clock) as lease:
            with write_transaction(engine) as conn:
                plan(conn, send, planned, now)
            courier = Courier(engine, branding, transports, sleep, lease.id, now)
            courier.drain(send.key, report)
    finally:
        transports.close()
        report.recipients.close()
