"""Email as a proper MIME message: text part, optional HTML part, Message-ID, Date, and
RFC 8058 one-click unsubscribe headers.

Built with the email package's compat32 classes: the modern EmailMessage parses every
header through its registry, which cost more than everything else in a send (~1 ms an
email). Headers here are all plain or explicitly encoded, so compat32 loses nothing.
"""

from __future__ import annotations

from email import charset, policy
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid, parseaddr

from passcli.delivery.base import Outgoing

# SMTP line endings, and no folding of long headers: a List-Unsubscribe URL has no spaces to
# fold at, so folding would RFC 2047-encode it and mail clients would not see it.
POLICY = policy.compat32.clone(linesep="\r\n", max_line_length=998)

# UTF-8 bodies as quoted-printable: readable, and safe over any mail hop. (MIMEText takes a
# Charset at run time; typeshed only admits its name.)
UTF8 = charset.Charset("utf-8")
UTF8.body_encoding = charset.QP


def _text(value: str) -> str:
    """A header value on one line, RFC 2047-encoded when it is not ASCII."""
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(message: Outgoing, sender: str) -> Message:
    body = MIMEText(message.body + "\n", "plain", UTF8)  # type: ignore[arg-type]
    email: Message = body
    if message.html:
        email = MIMEMultipart("alternative")
        email.attach(body)
        email.attach(MIMEText(message.html, "html", UTF8))  # type: ignore[arg-type]
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = _text(message.subject or "")
    domain = parseaddr(sender)[1].rpartition("@")[2] or "passcli.invalid"
    email["Message-ID"] = make_msgid(domain=domain)
    email["Date"] = format_datetime(message.date)
    if message.unsubscribe_url:
        # RFC 8058: an https link that a POST with this body unsubscribes.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        email[name] = _text(value)
    return email


def email_bytes(email: Message) -> bytes:
    return email.as_bytes(policy=POLICY)
