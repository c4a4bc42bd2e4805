"""A message composed for one customer: its templates compiled once per send, every SPEC §4
variable, and the rendered subject, body and HTML."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from passcli.branding import Branding
from passcli.messages.render import Template
from passcli.messages.spec import MessageSpec
from passcli.messages.tokens import Claims, make_token, unsubscribe_link
from passcli.timeutil import from_epoch, local_date

PREVIEW_TOKEN = "preview-unsigned"


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    html: str | None


class MessageTemplates:
    """A message's templates, compiled once per send."""

    def __init__(self, spec: MessageSpec) -> None:
        self.subject = Template(spec.subject) if spec.subject else None
        self.header = Template(spec.header) if spec.header else None
        self.body = Template(spec.body)
        self.html = Template(spec.html, html=True) if spec.html else None
        self.sms = Template(spec.sms_text())

    def render(self, channel: str, variables: dict[str, Any]) -> Rendered:
        if channel == "sms":
            return Rendered(None, self.sms.render(variables), None)
        body = self.body.render(variables)
        if self.header is not None:
            body = f"{self.header.render(variables)}\n\n{body}"
        # One line, whatever the customer's data holds: a CR or LF in a header would let a
        # first name write headers of its own.
        subject = " ".join(self.subject.render(variables).split()) if self.subject else None
        html = self.html.render(variables) if self.html else None
        return Rendered(subject, body, html)


def template_variables(
    row: Any,
    channel: str,
    branding: Branding,
    send_key: str | None,
    pass_name: str | None,
    now: datetime,
    tz: tzinfo,
) -> dict[str, Any]:
    """Every variable of SPEC §4 for one customer."""
    if branding.secret_key:
        token = make_token(branding.secret_key, Claims(row.id, channel, send_key))
    else:
        token = PREVIEW_TOKEN
    variables: dict[str, Any] = {
        "customerFirstName": row.first_name,
        "customerLastName": row.last_name,
        "customerEmail": row.email,
        "customerPhone": row.phone,
        "customerId": row.id,
        "dashboardUrl": branding.dashboard_url.replace("{customer_id}", row.id),
        "unsubscribeLink": unsubscribe_link(branding.unsubscribe_url, token),
        "organizationName": branding.org_name,
        "customer": {
            "id": row.id,
            "email": row.email,
            "phone": row.phone,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "timezone": row.timezone,
            "attributes": dict(row.attributes or {}),
        },
    }
    if pass_name is not None:
        expiry = row.pass_expiry
        expires_on = None
        days = None
        if expiry is not None and not row.pass_forever:
            expires = from_epoch(int(expiry)) if isinstance(expiry, int) else expiry
            expires_on = local_date(expires, tz)
            days = (expires_on - local_date(now, tz)).days
        variables.update(
            passName=pass_name,
            passExpiresOn=expires_on.isoformat() if expires_on else None,
            daysUntilExpiration=days,
            pointsEarned=int(row.points or 0),
        )
    return variables
