"""SMTP delivery against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import email
import json
import re
import socket
from dataclasses import dataclass, field
from email import policy
from email.utils import parsedate_to_datetime

import pytest
from aiosmtpd.controller import Controller

from passcli.delivery.outbox import OutboxTransport
from passcli.delivery.smtp import SmtpConfig, SmtpTransport
from passcli.delivery.transports import Transports
from passcli.delivery.unsubscribe import Claims, token_from, verify_token
from passcli.settings import load_settings

from .conftest import EXPIRATION_REMINDER, NOW, NOW_LABEL, Sleeps, invoke

SENDER = "Mile High Passes <news@passes.example>"
MESSAGES = """\
messages:
  pass-news:
    segments: [expires-soon]
    channel: email
    pass: explorer-pass
    subject: "{{ customerFirstName }}, your {{ passName }} ends {{ passExpiresOn }}"
    body: |
      Hi {{ customerFirstName }},
      {{ daysUntilExpiration }} days left. Unsubscribe: {{ unsubscribeLink }}
    html: "<p>Hi {{ customerFirstName }}, {{ daysUntilExpiration }} days left.</p>"
  plain:
    segments: [expires-soon]
    channel: email
    subject: Plain
    body: Just text.
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    peer: tuple[str, int]


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping what it accepts, with scripted trouble."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    rcpt_replies: list[str] = field(default_factory=list)  # replies to RCPT before 250s
    data_replies: list[str] = field(default_factory=list)  # replies to DATA before 250s
    drop_after: int | None = None  # close the connection after this many messages

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        # SMTP carries CRLF line ends; read the message as the client built it.
        content = envelope.content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(content, policy=policy.default)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, session.peer)
        )
        if self.drop_after is not None and len(self.received) == self.drop_after:
            # After the 250 reply is written, as a server hitting an idle limit would.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 OK queued"

    def by_recipient(self) -> dict[str, Received]:
        found: dict[str, Received] = {}
        for item in self.received:
            (to,) = item.rcpt_tos
            assert to not in found, f"{to} received two messages"
            found[to] = item
        return found


@pytest.fixture
def mailbox():
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def news(examples):
    examples.write_messages(MESSAGES)
    return examples


def smtp(example, port) -> Transports:
    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, sender=SENDER, timeout=10.0))
    return Transports.fixed(transport, OutboxTransport(example.outbox, SENDER))


def audience(example, name):
    """The addresses a dry run would send to, in customer-id order."""
    report = example.send(name, dry_run=True)
    return [(r["customer_id"], r["to"]) for r in report.recipients]


def test_a_send_delivers_one_complete_email_per_recipient(news, mailbox):
    expected = audience(news, "pass-news")
    assert len(expected) == EXPIRATION_REMINDER
    sleeps = Sleeps()
    report = news.send("pass-news", smtp(news, mailbox.port), sleep=sleeps)
    assert (report.sent, report.failed, sleeps) == ({"email": EXPIRATION_REMINDER, "sms": 0}, 0, [])

    got = mailbox.by_recipient()
    assert sorted(got) == sorted(to for _, to in expected)
    key = load_settings(news.dir).secret_key.get_secret_value()
    ledger = {row["customer_id"]: row for row in news.deliveries()}
    message_ids = set()
    for customer_id, to in expected:
        item = got[to]
        msg = item.message
        assert item.mail_from == "news@passes.example"
        assert msg["From"] == SENDER
        assert msg["To"] == to
        assert re.fullmatch(r".+, your Explorer Pass ends \d{4}-\d\d-\d\d", msg["Subject"])
        assert parsedate_to_datetime(msg["Date"]) == NOW
        assert re.fullmatch(r"<[^<>@\s]+@passes\.example>", msg["Message-ID"])
        message_ids.add(msg["Message-ID"])
        assert ledger[customer_id]["provider_id"] == msg["Message-ID"]
        assert ledger[customer_id]["status"] == "sent"
        # RFC 8058 one-click unsubscribe, signed for this customer and this send.
        link = re.fullmatch(
            r"<(https://example\.com/unsubscribe\?token=\S+)>", msg["List-Unsubscribe"]
        )
        assert link is not None
        assert verify_token(key, token_from(link.group(1))) == Claims(
            customer_id, "email", f"manual:pass-news:{NOW_LABEL}"
        )
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        first_name = msg["Subject"].split(",")[0]
        assert text.startswith(f"Hi {first_name},\n")
        assert "days left. Unsubscribe: https://example.com/unsubscribe?token=v1." in text
        assert html.strip().startswith(f"<p>Hi {first_name}, ")
    assert len(message_ids) == EXPIRATION_REMINDER


def test_a_message_without_html_is_a_single_text_part(news, mailbox):
    news.send("plain", smtp(news, mailbox.port))
    msg = mailbox.received[0].message
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Just text.\n"


def test_sending_twice_at_the_same_now_delivers_nothing_the_second_time(news, mailbox):
    news.send("pass-news", smtp(news, mailbox.port))
    assert len(mailbox.received) == EXPIRATION_REMINDER
    again = news.send("pass-news", smtp(news, mailbox.port))
    assert again.sent == {"email": 0, "sms": 0}
    assert again.skipped == {"already_sent": EXPIRATION_REMINDER}
    assert list(again.recipients) == []
    assert len(mailbox.received) == EXPIRATION_REMINDER
    assert len(news.deliveries()) == EXPIRATION_REMINDER


def test_a_421_reply_is_retried_after_a_backoff_and_delivered(news, mailbox):
    mailbox.data_replies = ["421 4.3.2 Service shutting down, try later"]
    sleeps = Sleeps()
    report = news.send("pass-news", smtp(news, mailbox.port), sleep=sleeps)
    assert (report.sent["email"], report.failed) == (EXPIRATION_REMINDER, 0)
    assert sleeps == [0.5]
    assert len(mailbox.by_recipient()) == EXPIRATION_REMINDER
    assert {row["status"] for row in news.deliveries()} == {"sent"}


def test_a_greylisting_450_for_a_recipient_is_retried_on_the_same_connection(news, mailbox):
    mailbox.rcpt_replies = ["450 4.2.0 Greylisted, come back later"]
    sleeps = Sleeps()
    report = news.send("pass-news", smtp(news, mailbox.port), sleep=sleeps)
    assert (report.sent["email"], report.failed, sleeps) == (EXPIRATION_REMINDER, 0, [0.5])
    assert len(mailbox.by_recipient()) == EXPIRATION_REMINDER
    assert len({item.peer for item in mailbox.received}) == 1


def test_a_server_dropping_the_connection_mid_session_is_reconnected(news, mailbox):
    mailbox.drop_after = 3
    sleeps = Sleeps()
    report = news.send("pass-news", smtp(news, mailbox.port), sleep=sleeps)
    assert (report.sent["email"], report.failed, sleeps) == (EXPIRATION_REMINDER, 0, [])
    assert len(mailbox.by_recipient()) == EXPIRATION_REMINDER  # each exactly once
    peers = list(dict.fromkeys(item.peer for item in mailbox.received))
    assert len(peers) == 2
    assert [item.peer for item in mailbox.received[:3]] == [peers[0]] * 3


def test_an_unreachable_server_fails_each_delivery_after_retries_and_the_run_goes_on(news):
    closed_port = free_port()
    sleeps = Sleeps()
    report = news.send("pass-news", smtp(news, closed_port), sleep=sleeps)
    assert report.failed == EXPIRATION_REMINDER
    assert report.sent == {"email": 0, "sms": 0}
    assert sleeps == [0.5, 2.0] * EXPIRATION_REMINDER
    rows = news.deliveries()
    assert {row["status"] for row in rows} == {"failed"}
    assert rows[0]["error"].startswith(f"cannot connect to SMTP 127.0.0.1:{closed_port}")


def test_a_550_fails_only_that_delivery_and_the_send_exits_1(news, mailbox, runner, monkeypatch):
    (refused_id, refused), *others = audience(news, "pass-news")
    mailbox.refuse = {refused}
    monkeypatch.setenv("PASSCLI_EMAIL_TRANSPORT", "smtp")
    monkeypatch.setenv("PASSCLI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PASSCLI_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("PASSCLI_EMAIL_FROM", SENDER)
    result = invoke(runner, news, "send", "pass-news", "--yes", "--json")
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["failed"], document["sent"]) == (1, {"email": len(others), "sms": 0})
    statuses = {r["customer_id"]: r["status"] for r in document["recipients"]}
    assert statuses == {refused_id: "failed", **{cid: "sent" for cid, _ in others}}
    assert sorted(mailbox.by_recipient()) == sorted(to for _, to in others)
    failed = [row for row in news.deliveries() if row["status"] == "failed"]
    assert [(row["customer_id"], row["attempts"]) for row in failed] == [(refused_id, 1)]
    assert failed[0]["error"] == f"SMTP 550: 5.1.1 <{refused}>: mailbox unavailable"
