"""Email as a proper MIME message: text part, optional HTML part, Message-ID, Date, and
RFC 8058 one-click unsubscribe headers.

Written out directly rather than through the email package's generator: its header folding
cost more than everything else in an outbox send (~0.3 ms an email for ten headers), and
every header here is one line already: plain ASCII, or RFC 2047-encoded when it is not.
Bodies are UTF-8, quoted-printable (readable, and safe over any mail hop), with CRLF line
endings, as SMTP wants them.
"""

from __future__ import annotations

import binascii
import functools
import random
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from passcli.delivery.base import Outgoing

CRLF = "\r\n"


@dataclass(frozen=True)
class Email:
    message_id: str
    data: bytes


def _text(value: str) -> str:
    """A header value on one line, RFC 2047-encoded when it is not ASCII."""
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    """A From/To header: a non-ASCII display name is RFC 2047-encoded, the address kept."""
    value = " ".join(value.split())
    if value.isascii():
        return value
    name, address = parseaddr(value)
    if not address or not address.isascii():
        return value  # an internationalised address: sent as UTF-8 (SMTPUTF8)
    return formataddr((name, address), charset="utf-8")


def _quoted_printable(text: str) -> str:
    """UTF-8 text as quoted-printable with CRLF line ends (binascii's C encoder: the email
    package's own is pure Python and ten times slower)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF)
    return binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii")


def _part(content_type: str, text: str) -> list[str]:
    """The headers and quoted-printable body of one text part."""
    return [
        f'Content-Type: {content_type}; charset="utf-8"',
        "MIME-Version: 1.0",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _quoted_printable(text),
    ]


def _boundary() -> str:
    return "===============" + "".join(random.choices("0123456789", k=19)) + "=="


@functools.lru_cache(maxsize=16)
def _date(at: datetime) -> str:
    """The Date header: a send's messages share one instant (formatting it is a quarter of
    composing an email)."""
    return format_datetime(at)


@functools.lru_cache(maxsize=16)
def _domain(sender: str) -> str:
    """The sender's domain, for Message-IDs (parsed once per sender, not per email)."""
    return parseaddr(sender)[1].rpartition("@")[2] or "passcli.invalid"


def compose_email(message: Outgoing, sender: str) -> Email:
    """The message as bytes ready for DATA (or a .eml file), and its Message-ID."""
    message_id = make_msgid(domain=_domain(sender))
    headers = [
        f"From: {_address(sender)}",
        f"To: {_address(message.to)}",
        f"Subject: {_text(message.subject or '')}",
        f"Message-ID: {message_id}",
        f"Date: {_date(message.date)}",
    ]
    if message.unsubscribe_url:
        # RFC 8058: an https link that a POST with this body unsubscribes.
        headers.append(f"List-Unsubscribe: <{message.unsubscribe_url}>")
        headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in message.headers.items():
        headers.append(f"{name}: {_text(value)}")
    plain = _part("text/plain", message.body + "\n")
    if not message.html:
        lines = [*plain[:3], *headers, *plain[3:]]
    else:
        boundary = _boundary()
        lines = [
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "MIME-Version: 1.0",
            *headers,
            "",
            f"--{boundary}",
            *plain,
            f"--{boundary}",
            *_part("text/html", message.html),
            f"--{boundary}--",
            "",
        ]
    return Email(message_id, CRLF.join(lines).encode("utf-8"))
