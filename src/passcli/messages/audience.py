"""Who receives one occurrence of a message, and why the others do not (SPEC §4).

One SQL query lists the candidates in customer-id order with everything the decision
needs: the profile, consent, "already received this message", and the pass variables. It is
streamed in batches; each candidate is then decided in Python, in SPEC §4's order of skip
reasons: no_address, unsubscribed, bounced, not_opted_in, already_sent, render_error,
invalid_address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, and_, exists, func, literal, or_, select, union

from passcli.messages.spec import MessageSpec
from passcli.segments.compile import ID, SegmentCompiler
from passcli.segments.spec import GroupRef, SegmentSpec
from passcli.store.schema import customers, deliveries, purchases, redemptions
from passcli.timeutil import to_epoch

SKIP_REASONS = (
    "no_address",
    "unsubscribed",
    "bounced",  # a hard bounce or complaint (`passcli import bounces`, SPEC §11)
    "not_opted_in",
    "already_sent",
    "frequency_cap",  # policy.yaml's frequency caps (SPEC §11)
    "render_error",
    "invalid_address",
)
PERSON_OR_CARRIER = ("person", "carrier")
# Delivery statuses that mean "this customer has (or may have) received it, or is about to"
# (held: by quiet hours, until they end).
RECEIVED = ("sent", "sending", "unknown", "queued", "pending", "held")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")


def members_query(
    segments: dict[str, SegmentSpec], message: MessageSpec, now: datetime, tz: tzinfo
) -> Select[Any]:
    """SELECT customer_id: members of the message's segments, minus its exclude segments,
    and only members of its subscription group when it names one."""
    compiler = SegmentCompiler(segments, now, tz)
    included = [compiler.query(name) for name in message.segments]
    members = (included[0] if len(included) == 1 else union(*included)).subquery()
    query = select(members.c[ID].label(ID))
    if message.exclude:
        excluded = [compiler.query(name) for name in message.exclude]
        left_out = (excluded[0] if len(excluded) == 1 else union(*excluded)).subquery()
        query = query.where(members.c[ID].not_in(select(left_out.c[ID])))
    if message.subscription_group is not None:
        # Only the group's members: a narrowing of the audience, like the segments.
        in_group = compiler.compile(GroupRef(message.subscription_group))
        query = query.where(in_group.test(members.c[ID]))
    return query


def candidates_query(
    members: Select[Any],
    message_name: str,
    message: MessageSpec,
    send_key: str,
    now: datetime,
    zones: ZoneFilter | None = None,
    retry_unknown: bool = False,
) -> Select[Any]:
    """Every member with the columns `decide` and the templates need, in customer-id order.

    `zones` keeps only customers whose time zone (the organisation's when they have none)
    is one of them: local-time schedules are due zone by zone."""
    found = members.subquery()
    c = customers.c
    d = deliveries.alias().c
    already = exists().where(
        d.message == message_name,
        d.customer_id == c.id,
        d.kind == "message",
        d.status.in_(RECEIVED),
        d.send_key != send_key,
    )
    columns: list[Any] = [
        c.id,
        c.email,
        c.phone,
        c.first_name,
        c.last_name,
        c.timezone,
        c.email_opt_in,
        c.sms_opt_in,
        c.email_consent_source,
        c.sms_consent_source,
        c.attributes,
        (already if message.once_per_customer else literal(False)).label("already_sent"),
        # This very occurrence reached them already (an earlier, limited or crashed run):
        # known before --limit counts, so a limited run always makes progress.
        exists()
        .where(
            deliveries.c.send_key == send_key,
            deliveries.c.recipient == c.id,
            deliveries.c.status.in_(
                [s for s in RECEIVED if not (retry_unknown and s == "unknown")]
            ),
        )
        .label("in_this_occurrence"),
    ]
    if message.pass_ is not None:
        now_s = to_epoch(now)
        p = purchases.alias().c
        active = and_(
            p.customer_id == c.id,
            p.item == message.pass_,
            p.status == "active",
            p.purchased_at <= now_s,
            or_(p.expires_at.is_(None), p.expires_at > now_s),
        )
        r = redemptions.alias().c
        columns += [
            select(func.max(p.expires_at)).where(active).scalar_subquery().label("pass_expiry"),
            exists().where(active, p.expires_at.is_(None)).label("pass_forever"),
            select(func.coalesce(func.sum(r.points), 0))
            .where(r.customer_id == c.id, r["pass"] == message.pass_, r.redeemed_at <= now_s)
            .scalar_subquery()
            .label("points"),
        ]
    query = select(*columns).join(found, found.c[ID] == c.id).order_by(c.id)
    if zones is not None:
        query = query.where(func.coalesce(c.timezone, zones.fallback).in_(zones.names))
    return query


@dataclass(frozen=True)
class ZoneFilter:
    names: tuple[str, ...]
    fallback: str  # the organisation's zone, for customers without one


def channel_problem(address: str | None, opted_in: bool, source: str | None) -> str | None:
    if not address:
        return "no_address"
    if not opted_in:
        if source == "bounce":
            return "bounced"
        return "unsubscribed" if source in PERSON_OR_CARRIER else "not_opted_in"
    return None


@dataclass(frozen=True)
class Decision:
    channel: str | None  # where to send, or None when skipped
    reason: str | None  # the skip reason

    @property
    def address_field(self) -> str:
        return "email" if self.channel == "email" else "phone"


def decide(row: Any, message: MessageSpec) -> Decision:
    """Channel, consent and once-per-customer checks, in SPEC §4's order."""
    email = channel_problem(row.email, row.email_opt_in, row.email_consent_source)
    sms = channel_problem(row.phone, row.sms_opt_in, row.sms_consent_source)
    if message.channel == "email":
        channel, problem = "email", email
    elif message.channel == "sms":
        channel, problem = "sms", sms
    elif email is None:
        channel, problem = "email", None
    elif sms is None:
        channel, problem = "sms", None
    else:
        # Neither works: name the check that got furthest on either channel.
        problem = max(email, sms, key=SKIP_REASONS.index)
        channel = "email"
    if problem is not None:
        return Decision(None, problem)
    if row.already_sent or getattr(row, "in_this_occurrence", False):
        return Decision(None, "already_sent")
    return Decision(channel, None)


def valid_address(channel: str, address: str) -> bool:
    return bool((EMAIL_RE if channel == "email" else E164_RE).match(address))
