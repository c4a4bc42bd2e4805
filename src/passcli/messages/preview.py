"""`passcli message preview`: one message rendered for one customer, with what a send
would do with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, literal, select

from passcli.branding import Branding
from passcli.errors import NotFoundError
from passcli.messages.audience import candidates_query, decide, members_query
from passcli.messages.compose import MessageTemplates, template_variables
from passcli.messages.render import RenderError
from passcli.messages.sms import SmsSize, sms_size
from passcli.messages.spec import MessageSpec
from passcli.segments.compile import ID
from passcli.segments.spec import SegmentSpec
from passcli.store.schema import customers, items


@dataclass(frozen=True)
class Preview:
    message: str
    customer_id: str
    channel: str
    to: str | None
    subject: str | None
    body: str
    in_audience: bool
    skip_reason: str | None  # why a send now would skip them, if it would
    sms: SmsSize | None
    signed: bool  # whether the unsubscribe link is signed (PASSCLI_SECRET_KEY set)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "message": self.message,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "in_audience": self.in_audience,
            "skip_reason": self.skip_reason,
        }
        if self.sms is not None:
            document["sms"] = {
                "encoding": self.sms.encoding,
                "characters": self.sms.characters,
                "parts": self.sms.parts,
            }
        return document


def preview_message(
    conn: Connection,
    segments: dict[str, SegmentSpec],
    name: str,
    spec: MessageSpec,
    customer_id: str,
    branding: Branding,
    now: datetime,
    tz: tzinfo,
) -> Preview:
    """Render `name` for one customer, member of its audience or not."""
    everyone = select(customers.c.id.label(ID)).where(customers.c.id == customer_id)
    row = conn.execute(candidates_query(everyone, name, spec, f"preview:{name}", now)).first()
    if row is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    members = members_query(segments, spec, now, tz).subquery()
    in_audience = (
        conn.execute(
            select(literal(1)).select_from(members).where(members.c[ID] == customer_id)
        ).first()
        is not None
    )
    decision = decide(row, spec)
    channel = decision.channel or _fallback_channel(row, spec)
    pass_name = None
    if spec.pass_ is not None:
        pass_name = conn.execute(select(items.c.name).where(items.c.id == spec.pass_)).scalar()
        pass_name = pass_name or spec.pass_
    variables = template_variables(row, channel, branding, None, pass_name, now, tz)
    reason = decision.reason if in_audience else "not_in_audience"
    try:
        rendered = MessageTemplates(spec).render(channel, variables)
        subject, body = rendered.subject, rendered.body
    except RenderError as exc:
        subject, body, reason = None, f"(cannot render: {exc})", "render_error"
    return Preview(
        message=name,
        customer_id=customer_id,
        channel=channel,
        to=row.email if channel == "email" else row.phone,
        subject=subject,
        body=body,
        in_audience=in_audience,
        skip_reason=reason,
        sms=sms_size(body) if channel == "sms" else None,
        signed=branding.secret_key is not None,
    )


def _fallback_channel(row: Any, spec: MessageSpec) -> str:
    if spec.channel != "any":
        return spec.channel
    return "email" if row.email else "sms"
