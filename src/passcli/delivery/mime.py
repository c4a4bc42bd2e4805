"""Email as a proper MIME message: text part, optional HTML part, Message-ID, Date, and
RFC 8058 one-click unsubscribe headers."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from passcli.delivery.base import Outgoing

# SMTP line endings, and no folding of long headers: a List-Unsubscribe URL has no spaces to
# fold at, so the default policy would RFC 2047-encode it and mail clients would not see it.
POLICY = policy.SMTP.clone(max_line_length=998)


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    email = EmailMessage(policy=POLICY)
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    domain = sender.rpartition("@")[2] or "passcli.invalid"
    email["Message-ID"] = make_msgid(idstring=None, domain=domain)
    email["Date"] = format_datetime(message.date)
    if message.unsubscribe_url:
        # RFC 8058: an https link that a POST with this body unsubscribes.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.body + "\n")
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email
