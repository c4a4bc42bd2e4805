"""Inbound SMS (SPEC §8): keywords acted on, every message kept, replies sent once.

A text received (`passcli sms receive`, or Twilio's webhook through `passcli serve`) is
stored in `inbound_messages`; then, for every customer with that phone number:
- STOP words opt the phone out of all SMS, START words back in, a join keyword opts in and
  joins its subscription group: a person's choice, which no import overrides (SPEC §2);
- the text becomes an `SMS Keyword` event (properties `keyword`, `group`, `body`).
From a phone no customer has yet, the message waits: importing a customer with that phone
applies it then, in the order received (`match_inbound`), and a join keyword is kept as a
pending member of its group meanwhile. A keyword (STOP, START, HELP or a join keyword) gets
its reply through the SMS transport, as one row of the delivery ledger (send key
`reply:<inbound id>`), so it shows in `passcli log` and is never sent twice. A retried
webhook (the same Twilio MessageSid) is applied once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import Engine, select

from passcli.branding import Branding
from passcli.delivery.courier import Courier
from passcli.delivery.lease import Lease
from passcli.delivery.ledger import SendKey, WallClock
from passcli.delivery.queue import Content, Planned, plan
from passcli.delivery.report import SendReport
from passcli.delivery.transports import Sleep, Transports
from passcli.errors import UsageError
from passcli.groups.keywords import Keyword, classify
from passcli.groups.members import customers_with
from passcli.groups.spec import GroupsFile
from passcli.importing.fields import FieldError, phone
from passcli.messages.render import Template
from passcli.project import Project
from passcli.sms.effects import apply_to_customer, insert_new, pending_phone
from passcli.store.engine import write_transaction
from passcli.store.schema import deliveries, inbound_messages

REPLY_MESSAGE = "sms-reply"  # the message name replies carry in the ledger (`passcli log`)
DEFAULT_JOIN_REPLY = (
    "{{ organizationName }}: you're subscribed. Reply HELP for help, STOP to opt out."
)


@dataclass(frozen=True)
class InboundSms:
    phone: str  # as received (Twilio's From)
    body: str  # as received (Body)
    provider_id: str | None = None  # Twilio's MessageSid: a retried webhook is applied once


@dataclass(frozen=True)
class Received:
    inbound_id: int | None
    phone: str  # E.164
    keyword: str  # the keyword matched, upper case, or ""
    action: str  # stop | start | help | join | none
    group: str | None
    customer_ids: tuple[str, ...]
    duplicate: bool  # provider_id seen before: nothing done again
    reply: str | None  # the reply text, when one was due
    reply_status: str | None  # sent | failed | unknown | None

    def to_json(self) -> dict[str, object]:
        return {
            "phone": self.phone,
            "keyword": self.keyword,
            "action": self.action,
            "group": self.group,
            "customers": list(self.customer_ids),
            "duplicate": self.duplicate,
            "reply": self.reply,
            "reply_status": self.reply_status,
        }


def join_keywords(groups: GroupsFile) -> dict[str, str]:
    """Each join keyword (upper case) and the group it joins."""
    return {
        word: name
        for name, group in groups.subscription_groups().items()
        for word in group.join_keywords
    }


def receive_sms(
    engine: Engine,
    project: Project,
    message: InboundSms,
    *,
    now: datetime,
    tz: tzinfo,
    region: str,
    branding: Branding,
    transports: Transports,
    wall_clock: WallClock,
    sleep: Sleep,
) -> Received:
    """Store and apply one inbound SMS, then send its reply (if it is a keyword)."""
    try:
        number = phone(message.phone, region)
    except FieldError as exc:
        raise UsageError(f"{exc} (the sender's phone number)") from None
    if not number:
        raise UsageError("the sender's phone number is empty")
    keyword = classify(message.body, join_keywords(project.groups))
    with write_transaction(engine) as conn:
        found = customers_with(conn, number)
        inbound_id = insert_new(
            conn,
            inbound_messages,
            {
                "provider_id": message.provider_id,
                "phone": number,
                "body": message.body,
                "keyword": keyword.word,
                "action": keyword.action,
                "group_name": keyword.group,
                "customer_id": found[0] if found else None,
                "received_at": now,
            },
        )
        if inbound_id is None:  # this MessageSid was received before: a retried webhook
            seen = conn.execute(
                select(inbound_messages.c.id).where(
                    inbound_messages.c.provider_id == message.provider_id
                )
            ).scalar_one()
            return Received(
                int(seen), number, keyword.word, keyword.action, keyword.group, (), True, None, None
            )
        joined = False
        for customer_id in found:
            joined |= apply_to_customer(conn, customer_id, inbound_id, keyword, message.body, now)
        if not found:
            joined = pending_phone(conn, keyword, number, now)
    # A join keyword gets its reply when it started a membership: a member texting it
    # again is not welcomed twice.
    due = keyword.action != "join" or joined
    reply = reply_text(project.groups, keyword, branding) if due else None
    status = None
    if reply is not None:
        status = _send_reply(
            engine,
            inbound_id,
            number,
            found[0] if found else None,
            reply,
            keyword,
            now=now,
            branding=branding,
            transports=transports,
            wall_clock=wall_clock,
            sleep=sleep,
        )
    return Received(
        inbound_id,
        number,
        keyword.word,
        keyword.action,
        keyword.group,
        tuple(found),
        False,
        reply,
        status,
    )


def reply_text(groups: GroupsFile, keyword: Keyword, branding: Branding) -> str | None:
    """The reply a keyword gets, rendered; None for a text that is not a keyword."""
    replies = groups.sms_keywords
    source: str | None
    if keyword.action == "stop":
        source = replies.stop_reply
    elif keyword.action == "start":
        source = replies.start_reply
    elif keyword.action == "help":
        source = replies.help_reply
    elif keyword.action == "join" and keyword.group is not None:
        group = groups.subscription_groups()[keyword.group]
        source = group.join_reply if group.join_reply is not None else DEFAULT_JOIN_REPLY
    else:
        source = None
    if source is None:
        return None
    return Template(source).render({"organizationName": branding.org_name})


def _send_reply(
    engine: Engine,
    inbound_id: int,
    number: str,
    customer_id: str | None,
    text: str,
    keyword: Keyword,
    *,
    now: datetime,
    branding: Branding,
    transports: Transports,
    wall_clock: WallClock,
    sleep: Sleep,
) -> str | None:
    """Send the reply as one delivery of the ledger; its status."""
    send = SendKey(
        key=f"reply:{inbound_id}",
        kind="reply",
        message=REPLY_MESSAGE,
        occurrence=keyword.word,
    )
    recipient = customer_id if customer_id is not None else f"sms:{number}"
    with Lease(engine, "sms-reply", wall_clock) as lease:
        with write_transaction(engine) as conn:
            plan(conn, send, [Planned(recipient, customer_id, "sms", number, Content(text))], now)
        report = SendReport(REPLY_MESSAGE, now, keyword.word, False)
        courier = Courier(engine, branding, transports, sleep, lease.id, now)
        try:
            courier.drain(send.key, report)
        finally:
            transports.close()
    with engine.connect() as conn:
        status = conn.execute(
            select(deliveries.c.status).where(
                deliveries.c.send_key == send.key, deliveries.c.recipient == recipient
            )
        ).scalar_one_or_none()
    return str(status) if status is not None else None
