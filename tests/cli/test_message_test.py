"""`passcli message test NAME [--customer ID]` end to end (SPEC §11): the message rendered for
a real customer and sent to policy.yaml's seed list through the real transports, an SMTP
server (aiosmtpd on 127.0.0.1) and a local stand-in for Twilio's Messages API, marked
`[TEST]`, recorded in the ledger as test sends that count for no customer.

`message test --json` prints {"message", "customer_id", "at", "sent", "failed",
"recipients": [{"to", "channel", "status", "error"}]}, status sent, failed or skipped.
"""

from __future__ import annotations

import email
import json
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from textwrap import dedent
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from werkzeug import Request, Response

from passcli.cli.app import app
from passcli.importing.load import import_file
from passcli.store import read_transaction
from passcli.store.schema import consent_changes, deliveries

NOW = "2026-11-22T17:00:00Z"
AT = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = "2026-11-22T18:00:00Z"
SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
SENDER = "news@passes.example"
QA, DESIGN, PHONE = "qa@example.com", "design@example.com", "+13035550199"
KEYS = {"message", "customer_id", "at", "sent", "failed", "recipients"}

CUSTOMERS = """\
    id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
    c1,ada@example.com,(303) 555-0100,Ada,Lovelace,,,true,true
    c2,grace@example.com,303-555-0101,Grace,Hopper,,,true,true
    c3,sam@example.com,303-555-0102,Sam,Stone,,,true,true
    """
SEGMENTS = """\
    segments:
      everyone:
        conditions:
          - attribute: {name: email, op: exists}
      ada:
        conditions:
          - attribute: {name: first_name, op: equals, value: Ada}
      nobody:
        conditions:
          - attribute: {name: first_name, op: equals, value: Nobody}
    """
# The audience of each message but `empty` is c2 and c3: c1 is excluded.
MESSAGES = """\
    messages:
      news:
        segments: [everyone]
        exclude: [ada]
        channel: any
        subject: "News for {{ customerFirstName }}"
        body: |
          Hi {{ customerFirstName }}, new spots this week.
          Unsubscribe: {{ unsubscribeLink }}
        sms_body: "Hi {{ customerFirstName }}, new spots this week."
      mail-only:
        segments: [everyone]
        exclude: [ada]
        channel: email
        subject: "Mail for {{ customerFirstName }}"
        body: "Hello {{ customerFirstName }}."
      text-only:
        segments: [everyone]
        exclude: [ada]
        channel: sms
        body: "Text for {{ customerFirstName }}."
      empty:
        segments: [nobody]
        channel: email
        subject: Nobody
        body: "Hello {{ customerFirstName }}."
    """
SEEDS = f'seed_list: [{QA}, "{PHONE}", {DESIGN}]\n'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping what it accepts; `refuse` answers 550 to recipients."""

    received: list[email.message.EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    port: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content.replace(b"\r\n", b"\n")
        self.received.append(email.message_from_bytes(content, policy=policy.default))
        return "250 2.0.0 OK queued"

    def by_recipient(self) -> dict[str, email.message.EmailMessage]:
        return {str(m["To"]): m for m in self.received}


@dataclass
class FakeTwilio:
    """Answers the Messages resource: 201 and a new SID, or 400 to numbers in `refuse`."""

    texts: list[dict[str, str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    def __call__(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        if form["To"] in self.refuse:
            body = {"code": 21211, "message": "not a valid phone number", "status": 400}
            return Response(json.dumps(body), status=400, content_type="application/json")
        self.texts.append(form)
        body = {"sid": f"SM{len(self.texts):032x}", "status": "queued", "to": form["To"]}
        return Response(json.dumps(body), status=201, content_type="application/json")


@pytest.fixture
def mailbox():
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def twilio(httpserver):
    fake = FakeTwilio()
    httpserver.expect_request(TWILIO_PATH, method="POST").respond_with_handler(fake)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


@pytest.fixture
def shop(project: Path, engine: Engine, tmp_path: Path, mailbox, twilio, monkeypatch) -> Path:
    """Three customers, the messages above, a seed list of two emails and a phone; email
    through SMTP, texts through Twilio (both local)."""
    (project / "segments.yaml").write_text(dedent(SEGMENTS), encoding="utf-8")
    (project / "messages.yaml").write_text(dedent(MESSAGES), encoding="utf-8")
    (project / "policy.yaml").write_text(SEEDS, encoding="utf-8")
    path = tmp_path / "customers.csv"
    path.write_text(dedent(CUSTOMERS), encoding="utf-8")
    report = import_file(engine, "customers", path, tz=UTC, region="US", now=AT)
    assert report.rejected == 0, report.rejections
    for name, value in {
        "EMAIL_TRANSPORT": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "EMAIL_FROM": SENDER,
        "SMS_TRANSPORT": "twilio",
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": "twilio-auth-token",
        "TWILIO_FROM": "+13035550000",
        "TWILIO_API_BASE": twilio.base,
    }.items():
        monkeypatch.setenv(f"PASSCLI_{name}", value)
    return project


def invoke(runner, project: Path, *args: object, now: str = NOW):
    return runner.invoke(app, [*(str(a) for a in args), "--project", str(project), "--now", now])


def run_json(runner, project: Path, *args: object, now: str = NOW, code: int = 0):
    result = invoke(runner, project, *args, "--json", now=now)
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


def seed_test(runner, project: Path, name: str, *options: object, now: str = NOW, code: int = 0):
    """`message test NAME --json`, its document checked for the contract's keys."""
    document = run_json(runner, project, "message", "test", name, *options, now=now, code=code)
    assert set(document) == KEYS
    return document


def ledger(engine: Engine) -> list[dict]:
    with read_transaction(engine) as conn:
        rows = conn.execute(select(deliveries).order_by(deliveries.c.id))
        return [dict(r._mapping) for r in rows]


def test_every_seed_gets_the_message_for_the_first_member_marked_as_a_test(
    runner, shop, engine, mailbox, twilio
):
    document = seed_test(runner, shop, "news")
    assert document == {
        "message": "news",
        "customer_id": "c2",  # c1 is excluded: c2 is the first member by id
        "at": NOW,
        "sent": 3,
        "failed": 0,
        "recipients": [
            {"to": QA, "channel": "email", "status": "sent", "error": None},
            {"to": PHONE, "channel": "sms", "status": "sent", "error": None},
            {"to": DESIGN, "channel": "email", "status": "sent", "error": None},
        ],
    }
    mails = mailbox.by_recipient()
    assert sorted(mails) == [DESIGN, QA]
    for mail in mails.values():
        assert mail["Subject"] == "[TEST] News for Grace"
        assert mail.get_content().startswith("Hi Grace, new spots this week.")
        assert mail["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?token=")
    assert [(t["To"], t["Body"]) for t in twilio.texts] == [
        (PHONE, "[TEST] Hi Grace, new spots this week.")
    ]
    rows = ledger(engine)
    assert [(r["recipient"], r["channel"], r["address"], r["status"]) for r in rows] == [
        (f"email:{QA}", "email", QA, "sent"),
        (f"sms:{PHONE}", "sms", PHONE, "sent"),
        (f"email:{DESIGN}", "email", DESIGN, "sent"),
    ]
    for row in rows:
        assert (row["kind"], row["message"], row["customer_id"]) == ("test", "news", None)
        assert re.fullmatch(r"test:news:c2:[0-9a-f]{32}", row["send_key"])
        assert (row["occurrence"], row["attempts"], row["payload"]) == ("test:c2", 1, None)
    assert len({r["send_key"] for r in rows}) == 1


def test_customer_renders_it_for_that_customer_in_the_audience_or_not(
    runner, shop, mailbox, twilio
):
    assert seed_test(runner, shop, "news", "--customer", "c3")["customer_id"] == "c3"
    document = seed_test(runner, shop, "news", "--customer", "c1")  # excluded: still rendered
    assert document["customer_id"] == "c1"
    subjects = [m["Subject"] for m in mailbox.received]
    assert subjects == ["[TEST] News for Sam"] * 2 + ["[TEST] News for Ada"] * 2
    assert [t["Body"] for t in twilio.texts] == [
        "[TEST] Hi Sam, new spots this week.",
        "[TEST] Hi Ada, new spots this week.",
    ]


def test_seeds_the_channel_does_not_reach_are_skipped(runner, shop, mailbox, twilio):
    mail = seed_test(runner, shop, "mail-only")
    assert [(r["to"], r["status"]) for r in mail["recipients"]] == [
        (QA, "sent"),
        (PHONE, "skipped"),
        (DESIGN, "sent"),
    ]
    assert mail["recipients"][1] == {
        "to": PHONE,
        "channel": "sms",
        "status": "skipped",
        "error": "the message is sent by email only",
    }
    assert (mail["sent"], mail["failed"]) == (2, 0)
    text = seed_test(runner, shop, "text-only")
    assert [(r["to"], r["channel"], r["status"]) for r in text["recipients"]] == [
        (QA, "email", "skipped"),
        (PHONE, "sms", "sent"),
        (DESIGN, "email", "skipped"),
    ]
    assert [m["Subject"] for m in mailbox.received] == ["[TEST] Mail for Grace"] * 2
    assert [(t["To"], t["Body"]) for t in twilio.texts] == [(PHONE, "[TEST] Text for Grace.")]


def test_a_refused_seed_fails_alone_and_the_command_exits_1(runner, shop, engine, mailbox, twilio):
    mailbox.refuse = {QA}
    twilio.refuse = {PHONE}
    document = seed_test(runner, shop, "news", code=1)
    assert (document["sent"], document["failed"]) == (1, 2)
    assert document["recipients"] == [
        {
            "to": QA,
            "channel": "email",
            "status": "failed",
            "error": f"SMTP 550: 5.1.1 <{QA}>: mailbox unavailable",
        },
        {
            "to": PHONE,
            "channel": "sms",
            "status": "failed",
            "error": "Twilio 400: not a valid phone number",
        },
        {"to": DESIGN, "channel": "email", "status": "sent", "error": None},
    ]
    assert sorted(mailbox.by_recipient()) == [DESIGN]
    assert [(r["address"], r["status"]) for r in ledger(engine)] == [
        (QA, "failed"),
        (PHONE, "failed"),
        (DESIGN, "sent"),
    ]


def test_the_table_lists_each_seed_and_stderr_sums_up(runner, shop):
    result = invoke(runner, shop, "message", "test", "mail-only")
    assert result.exit_code == 0, result.stderr
    for cell in (QA, DESIGN, PHONE, "sent", "skipped", "the message is sent by email only"):
        assert cell in result.stdout
    assert result.stderr.strip() == "mail-only for c2: test sent 2, failed 0, skipped 1"


def test_each_run_is_a_new_test_send(runner, shop, engine, mailbox):
    seed_test(runner, shop, "mail-only")
    seed_test(runner, shop, "mail-only")
    assert len(mailbox.received) == 4
    assert len({r["send_key"] for r in ledger(engine)}) == 2


@pytest.mark.parametrize(
    ("args", "code", "sentence"),
    [
        (["nope"], 2, "unknown message 'nope'"),
        (["news", "--customer", "c9"], 1, "no customer with id 'c9'"),
        (["empty"], 1, "message 'empty' has no members to render it for"),
    ],
)
def test_bad_usage_is_one_sentence_and_sends_nothing(
    runner, shop, engine, mailbox, twilio, args, code, sentence
):
    result = invoke(runner, shop, "message", "test", *args, "--json")
    assert result.exit_code == code
    assert result.stdout == ""
    assert sentence in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert (mailbox.received, twilio.texts, ledger(engine)) == ([], [], [])


def test_an_empty_message_can_still_be_tested_for_a_named_customer(runner, shop, mailbox):
    assert seed_test(runner, shop, "empty", "--customer", "c3")["sent"] == 2
    assert [m["Subject"] for m in mailbox.received] == ["[TEST] Nobody"] * 2


def test_without_a_seed_list_it_says_to_add_one(runner, shop, engine, mailbox):
    (shop / "policy.yaml").write_text("frequency_caps: []\n", encoding="utf-8")
    result = invoke(runner, shop, "message", "test", "news")
    assert result.exit_code == 2
    assert "policy.yaml has no seed_list: add one" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (shop / "policy.yaml").unlink()
    again = invoke(runner, shop, "message", "test", "news")
    assert again.exit_code == 2
    assert "policy.yaml has no seed_list: add one" in again.stderr
    assert (mailbox.received, ledger(engine)) == ([], [])


def test_test_sends_leave_the_customers_ledger_untouched(runner, shop, engine, mailbox, twilio):
    """After a test rendered for c2, `send` still reaches c2 (once_per_customer), and the
    test rows show in the log under the message, for no customer, counted by no report."""
    seed_test(runner, shop, "news")
    sent = run_json(runner, shop, "send", "news", "--yes", now=LATER)
    assert [(r["customer_id"], r["status"]) for r in sent["recipients"]] == [
        ("c2", "sent"),
        ("c3", "sent"),
    ]
    assert sent["skipped"] == {}
    # once_per_customer holds for real sends, and never for a test.
    assert run_json(runner, shop, "send", "news", "--yes", now="2026-11-22T19:00:00Z")[
        "skipped"
    ] == {"already_sent": 2}
    assert seed_test(runner, shop, "news", now="2026-11-22T20:00:00Z")["sent"] == 3

    log = run_json(runner, shop, "log", "--message", "news")["deliveries"]
    tests = [d for d in log if d["customer_id"] is None]
    assert sorted((d["to"], d["occurrence"], d["status"]) for d in tests) == sorted(
        [(QA, "test:c2", "sent"), (PHONE, "test:c2", "sent"), (DESIGN, "test:c2", "sent")] * 2
    )
    assert [
        d["customer_id"] for d in run_json(runner, shop, "log", "--customer", "c2")["deliveries"]
    ] == ["c2"]
    profile = run_json(runner, shop, "customer", "show", "c2")
    assert [d["message"] for d in profile["deliveries"]] == ["news"]
    report = run_json(runner, shop, "report", "message", "news", now="2026-11-23T17:00:00Z")
    assert report["total"]["sent"] == {"email": 2, "sms": 0}


def test_a_frequency_cap_does_not_count_test_sends(runner, shop, engine, mailbox):
    (shop / "policy.yaml").write_text(
        SEEDS + "frequency_caps: [{channel: any, max: 1, per: {days: 1}}]\n", encoding="utf-8"
    )
    seed_test(runner, shop, "mail-only")
    seed_test(runner, shop, "news")
    sent = run_json(runner, shop, "send", "mail-only", "--yes", now=LATER)
    assert [(r["customer_id"], r["status"]) for r in sent["recipients"]] == [
        ("c2", "sent"),
        ("c3", "sent"),
    ]
    assert sent["skipped"] == {}
    # The cap is on: the real send counts, and stops another message that day.
    capped = run_json(runner, shop, "send", "news", "--yes", now="2026-11-22T19:00:00Z")
    assert (capped["sent"], capped["skipped"]) == ({"email": 0, "sms": 0}, {"frequency_cap": 2})
    # A test is never capped.
    assert seed_test(runner, shop, "news", now="2026-11-22T20:00:00Z")["sent"] == 3


def test_quiet_hours_do_not_hold_a_test_send(runner, shop, mailbox, twilio):
    (shop / "policy.yaml").write_text(
        SEEDS + 'quiet_hours: {start: "16:00", end: "18:00"}\n', encoding="utf-8"
    )
    assert seed_test(runner, shop, "news")["sent"] == 3  # 17:00 UTC: quiet for every customer
    assert (len(mailbox.received), len(twilio.texts)) == (2, 1)
    held = run_json(runner, shop, "send", "news", "--yes")
    assert (held["sent"], held["held"]) == ({"email": 0, "sms": 0}, 2)


def test_the_unsubscribe_link_of_a_test_send_unsubscribes_nobody(runner, shop, engine, mailbox):
    seed_test(runner, shop, "news")
    link = mailbox.by_recipient()[QA]["List-Unsubscribe"].strip("<>")
    assert link in mailbox.by_recipient()[QA].get_content()
    result = invoke(runner, shop, "unsubscribe", link)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == (
        "This link came from a test send (passcli message test): nothing changed."
    )
    assert run_json(runner, shop, "unsubscribe", link) == {
        "customer_id": "c2",
        "channel": "email",
        "changed": False,
        "test_send": True,
    }
    profile = run_json(runner, shop, "customer", "show", "c2")["customer"]
    assert (profile["email_opt_in"], profile["sms_opt_in"]) == (True, True)
    with read_transaction(engine) as conn:
        assert conn.execute(select(consent_changes)).all() == []
    # The customer still gets the real message.
    sent = run_json(runner, shop, "send", "mail-only", "--yes", now=LATER)
    assert sent["sent"]["email"] == 2


def test_a_transport_the_settings_cannot_make_is_refused_before_anything_is_recorded(
    runner, shop, engine, mailbox, monkeypatch
):
    monkeypatch.delenv("PASSCLI_TWILIO_ACCOUNT_SID")
    result = invoke(runner, shop, "message", "test", "news")
    assert result.exit_code == 2
    assert "the twilio transport needs PASSCLI_TWILIO_ACCOUNT_SID" in result.stderr
    assert (mailbox.received, ledger(engine)) == ([], [])
