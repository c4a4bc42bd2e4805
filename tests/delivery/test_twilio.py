"""SMS through the Twilio Messages API, with pytest-httpserver standing in for Twilio."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
import pytest
from werkzeug import Request, Response

from passcli.delivery.base import Outgoing
from passcli.delivery.outbox import OutboxTransport
from passcli.delivery.transports import Transports, send_with_retries
from passcli.delivery.twilio import TwilioConfig, TwilioTransport
from passcli.errors import DeliveryError, TransientDeliveryError

from .conftest import NOW, START_CHECKING_IN, WELCOME_SMS_TO, Sleeps, invoke

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token"
FROM = "+13035550000"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


@dataclass
class FakeTwilio:
    """Answers POSTs to the Messages resource: 201 with a new SID unless a reply is
    scripted for that recipient (`script[to]`, used in order)."""

    requests: list[dict] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict, dict]]] = field(default_factory=dict)

    def __call__(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "content_type": request.content_type,
                "authorization": request.headers.get("Authorization"),
                "form": form,
            }
        )
        replies = self.script.get(form.get("To", ""))
        if replies:
            status, body, headers = replies.pop(0)
        else:
            sid = f"SM{len(self.requests):032x}"
            status, body, headers = 201, {"sid": sid, "status": "queued", "to": form["To"]}, {}
        return Response(
            json.dumps(body), status=status, headers=headers, content_type="application/json"
        )

    def sids(self) -> list[str]:
        return [f"SM{n + 1:032x}" for n in range(len(self.requests))]


def error(status, code, message="error", headers=None):
    return (status, {"code": code, "message": message, "status": status}, headers or {})


@pytest.fixture
def twilio(httpserver):
    fake = FakeTwilio()
    httpserver.expect_request(PATH, method="POST").respond_with_handler(fake)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


def sms(example, twilio) -> Transports:
    transport = TwilioTransport(
        TwilioConfig(account_sid=SID, auth_token=TOKEN, sender=FROM, api_base=twilio.base)
    )
    return Transports.fixed(OutboxTransport(example.outbox, "news@example.com"), transport)


def sms_audience(example, name):
    return [(r["customer_id"], r["to"]) for r in example.send(name, dry_run=True).recipients]


def test_a_201_posts_the_form_with_basic_auth_and_records_the_sid(examples, twilio):
    sleeps = Sleeps()
    report = examples.send("welcome-2-day", sms(examples, twilio), sleep=sleeps)
    assert (report.sent, report.failed, sleeps) == ({"email": 0, "sms": 1}, 0, [])
    (request,) = twilio.requests
    assert (request["method"], request["path"]) == ("POST", PATH)
    assert request["content_type"] == "application/x-www-form-urlencoded"
    credentials = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["authorization"] == f"Basic {credentials}"
    customer_id, phone = WELCOME_SMS_TO
    assert set(request["form"]) == {"To", "From", "Body"}
    assert (request["form"]["To"], request["form"]["From"]) == (phone, FROM)
    assert request["form"]["Body"].startswith("Don't miss out! Your Explorer Pass experience")
    assert f"https://example.com/pass/{customer_id}" in request["form"]["Body"]
    (row,) = examples.deliveries()
    assert (row["customer_id"], row["channel"], row["address"], row["status"]) == (
        customer_id,
        "sms",
        phone,
        "sent",
    )
    assert row["provider_id"] == twilio.sids()[0]


def test_a_429_is_retried_after_its_retry_after(examples, twilio):
    _, phone = WELCOME_SMS_TO
    twilio.script[phone] = [error(429, 20429, "Too Many Requests", {"Retry-After": "7"})]
    sleeps = Sleeps()
    report = examples.send("welcome-2-day", sms(examples, twilio), sleep=sleeps)
    assert (report.sent["sms"], report.failed) == (1, 0)
    assert sleeps == [7.0]
    assert len(twilio.requests) == 2
    assert examples.deliveries()[0]["provider_id"] == twilio.sids()[1]


def test_a_long_retry_after_is_capped(examples, twilio):
    _, phone = WELCOME_SMS_TO
    twilio.script[phone] = [error(429, 20429, headers={"Retry-After": "3600"})]
    sleeps = Sleeps()
    examples.send("welcome-2-day", sms(examples, twilio), sleep=sleeps)
    assert sleeps == [30.0]


def test_500s_exhaust_the_retries_and_fail_the_delivery(examples, twilio):
    _, phone = WELCOME_SMS_TO
    twilio.script[phone] = [error(500, 20500, "Internal Server Error")] * 3
    sleeps = Sleeps()
    report = examples.send("welcome-2-day", sms(examples, twilio), sleep=sleeps)
    assert (report.sent["sms"], report.failed) == (0, 1)
    assert sleeps == [0.5, 2.0]
    assert len(twilio.requests) == 3
    (row,) = examples.deliveries()
    assert (row["status"], row["error"], row["provider_id"]) == (
        "failed",
        "Twilio 500: Internal Server Error",
        None,
    )


def test_error_21610_marks_the_customer_unsubscribed_by_the_carrier(examples, twilio):
    customer_id, phone = WELCOME_SMS_TO
    assert examples.customer(customer_id)["sms_opt_in"] is True
    twilio.script[phone] = [error(400, 21610, "Attempt to send to unsubscribed recipient")]
    sleeps = Sleeps()
    report = examples.send("welcome-2-day", sms(examples, twilio), sleep=sleeps)
    assert (report.failed, sleeps, len(twilio.requests)) == (1, [], 1)
    (row,) = examples.deliveries()
    assert (row["status"], row["error"]) == (
        "failed",
        "Twilio 400: Attempt to send to unsubscribed recipient",
    )
    customer = examples.customer(customer_id)
    assert (customer["sms_opt_in"], customer["sms_consent_source"]) == (False, "carrier")
    changes = examples.consent_changes(customer_id)
    assert [(c["channel"], c["opted_in"], c["source"], c["at"]) for c in changes] == [
        ("sms", False, "carrier", NOW)
    ]

    # A later import of the customers file (sms_opt_in=true for them) does not opt them in.
    examples.reimport_customers()
    customer = examples.customer(customer_id)
    assert (customer["sms_opt_in"], customer["sms_consent_source"]) == (False, "carrier")
    again = examples.send("welcome-2-day", dry_run=True)
    assert again.skipped["unsubscribed"] >= 1
    assert customer_id not in {r["customer_id"] for r in again.recipients}


def test_a_failed_delivery_does_not_stop_the_run(examples, twilio):
    recipients = sms_audience(examples, "start-checking-in")
    assert len(recipients) == START_CHECKING_IN
    bad_id, bad_phone = recipients[1]
    twilio.script[bad_phone] = [error(400, 21211, "Invalid 'To' Phone Number")]
    report = examples.send("start-checking-in", sms(examples, twilio), sleep=Sleeps())
    assert (report.sent["sms"], report.failed) == (START_CHECKING_IN - 1, 1)
    assert [r["form"]["To"] for r in twilio.requests] == [to for _, to in recipients]
    statuses = {row["customer_id"]: row["status"] for row in examples.deliveries()}
    assert statuses == {cid: "failed" if cid == bad_id else "sent" for cid, _ in recipients}
    # Only 21610 is a carrier opt-out; an invalid number leaves consent alone.
    assert examples.customer(bad_id)["sms_consent_source"] != "carrier"
    assert examples.consent_changes(bad_id) == []


def test_the_cli_sends_through_twilio_from_settings_and_exits_1_on_a_failure(
    examples, twilio, runner, monkeypatch
):
    monkeypatch.setenv("PASSCLI_SMS_TRANSPORT", "twilio")
    monkeypatch.setenv("PASSCLI_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("PASSCLI_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PASSCLI_TWILIO_FROM", FROM)
    monkeypatch.setenv("PASSCLI_TWILIO_API_BASE", twilio.base)
    recipients = sms_audience(examples, "start-checking-in")
    twilio.script[recipients[0][1]] = [error(400, 21211, "Invalid 'To' Phone Number")]
    result = invoke(runner, examples, "send", "start-checking-in", "--yes", "--json")
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["sent"], document["failed"]) == (
        {"email": 0, "sms": START_CHECKING_IN - 1},
        1,
    )
    assert [r["path"] for r in twilio.requests] == [PATH] * START_CHECKING_IN
    assert TOKEN not in result.stdout + result.stderr

    log = invoke(runner, examples, "log", "--customer", recipients[0][0], "--json")
    assert [(r["status"], r["error"]) for r in json.loads(log.stdout)["deliveries"]] == [
        ("failed", "Twilio 400: Invalid 'To' Phone Number")
    ]


def outgoing():
    return Outgoing(channel="sms", to="+13035550132", body="Hi", key="k-1", date=NOW)


def failing_transport(exception):
    calls = []

    def handler(request):
        calls.append(request)
        raise exception("boom", request=request)

    config = TwilioConfig(account_sid=SID, auth_token=TOKEN, sender=FROM)
    return TwilioTransport(config, transport=httpx.MockTransport(handler)), calls


def test_a_refused_connection_is_retried_with_backoff_then_fails():
    transport, calls = failing_transport(httpx.ConnectError)
    sleeps = Sleeps()
    with pytest.raises(TransientDeliveryError, match="Twilio unreachable"):
        send_with_retries(transport, outgoing(), sleeps)
    assert (len(calls), sleeps) == (3, [0.5, 2.0])


def test_a_read_timeout_after_the_request_went_out_is_not_retried():
    transport, calls = failing_transport(httpx.ReadTimeout)
    with pytest.raises(DeliveryError):
        send_with_retries(transport, outgoing(), Sleeps())
    assert len(calls) == 1
