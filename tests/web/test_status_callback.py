"""POST /webhooks/twilio/status through a real server: Twilio's status callbacks record the
carrier's status on the delivery with that MessageSid (the latest in Twilio's order, whatever
order they arrive in), never touch the delivery's own status, and error 21610 opts the
customer out of texts; unsigned or mis-signed callbacks get 403 and change nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import insert
from twilio.request_validator import RequestValidator

from passcli.cli.app import app
from passcli.importing.load import import_file
from passcli.store import write_transaction
from passcli.store.schema import consent_changes, customers, deliveries
from passcli.web.app import STATUS_PATH

from .conftest import AUTH_TOKEN, NOW, PHONE, PUBLIC_URL, post_form

SID = "SM" + "b" * 32


def sent_text(site, sid: str = SID, customer_id: str = "c1", phone: str = PHONE) -> int:
    """A text the ledger recorded as sent through Twilio, with Twilio's SID."""
    with write_transaction(site.engine) as conn:
        return conn.execute(
            insert(deliveries)
            .values(
                send_key=f"message:promo:{sid}",
                recipient=customer_id,
                kind="message",
                message="promo",
                occurrence="2026-11-22T16:00:00Z",
                customer_id=customer_id,
                channel="sms",
                address=phone,
                status="sent",
                attempts=1,
                provider_id=sid,
                created_at=NOW - timedelta(hours=1),
                updated_at=NOW - timedelta(hours=1),
                sent_at=NOW - timedelta(hours=1),
            )
            .returning(deliveries.c.id)
        ).scalar_one()


def status_form(status: str, sid: str = SID, error: str | None = None) -> list[tuple[str, str]]:
    """The form Twilio posts to a StatusCallback (ErrorCode only with an error)."""
    form = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", PHONE),
        ("MessagingServiceSid", ""),
        ("MessageSid", sid),
        ("AccountSid", "AC" + "0" * 32),
        ("From", "+17205550100"),
        ("ApiVersion", "2010-04-01"),
    ]
    if error is not None:
        form.append(("ErrorCode", error))
    return form


def callback(site, status: str, sid: str = SID, error: str | None = None):
    return site.signed_post(status_form(status, sid, error), path=STATUS_PATH)


def delivery(site, delivery_id: int) -> dict:
    [row] = site.rows(deliveries, deliveries.c.id == delivery_id)
    return row


def carrier(site, delivery_id: int) -> tuple:
    row = delivery(site, delivery_id)
    return row["status"], row["carrier_status"], row["carrier_error"], row["carrier_status_at"]


def test_a_delivered_callback_is_recorded_beside_the_sent_status(site):
    sent = sent_text(site)
    answer = callback(site, "delivered")
    assert (answer.status_code, answer.text) == (200, "")
    assert carrier(site, sent) == ("sent", "delivered", None, NOW)


def test_an_undelivered_text_keeps_status_sent_with_the_carriers_error_code(site):
    sent = sent_text(site)
    assert callback(site, "sent").status_code == 200
    assert callback(site, "undelivered", error="30003").status_code == 200
    assert carrier(site, sent) == ("sent", "undelivered", "30003", NOW)
    assert site.rows(consent_changes) == []  # only 21610 changes consent


def test_statuses_arriving_out_of_order_keep_the_latest_in_twilios_order(site):
    sent = sent_text(site)
    for status in ["delivered", "sent", "queued", "sending"]:
        assert callback(site, status).status_code == 200
    assert carrier(site, sent)[:3] == ("sent", "delivered", None)
    other = sent_text(site, sid="SM" + "c" * 32, customer_id="c2", phone="+13035550124")
    for status in ["queued", "sent", "failed"]:
        assert (
            callback(
                site, status, sid="SM" + "c" * 32, error="30008" if status == "failed" else None
            ).status_code
            == 200
        )
    assert carrier(site, other)[:3] == ("sent", "failed", "30008")


def test_a_repeated_callback_is_harmless(site):
    sent = sent_text(site)
    for _ in range(2):
        assert callback(site, "delivered").status_code == 200
    assert carrier(site, sent)[:3] == ("sent", "delivered", None)


def test_error_21610_opts_the_customer_out_of_texts_once_and_no_import_undoes_it(site):
    sent = sent_text(site)
    for _ in range(2):  # Twilio may call twice
        assert callback(site, "undelivered", error="21610").status_code == 200
    assert carrier(site, sent)[:3] == ("sent", "undelivered", "21610")
    [c1] = site.rows(customers, customers.c.id == "c1")
    assert (c1["sms_opt_in"], c1["sms_consent_source"]) == (False, "carrier")
    [change] = site.rows(consent_changes, consent_changes.c.customer_id == "c1")
    assert (change["channel"], change["opted_in"], change["source"]) == ("sms", False, "carrier")
    assert change["detail"] == "Twilio error 21610"
    again = site.dir / "again.csv"
    again.write_text("id,email,phone,sms_opt_in\nc1,ada@example.com,+13035550123,true\n")
    import_file(site.engine, "customers", again, tz=NOW.tzinfo, region="US", now=NOW)
    [c1] = site.rows(customers, customers.c.id == "c1")
    assert c1["sms_opt_in"] is False


def test_an_unknown_message_sid_gets_200_changes_nothing_and_is_logged(site):
    sent = sent_text(site)
    answer = callback(site, "delivered", sid="SM" + "f" * 32)
    assert (answer.status_code, answer.text) == (200, "")
    assert carrier(site, sent) == ("sent", None, None, None)
    assert any("unknown MessageSid" in line and "SM" + "f" * 32 in line for line in site.logs)


def test_an_unknown_status_is_ignored_and_a_form_without_one_is_refused(site):
    sent = sent_text(site)
    assert callback(site, "teleported").status_code == 200
    form = [(k, v) for k, v in status_form("delivered") if k not in ("MessageStatus", "SmsStatus")]
    assert site.signed_post(form, path=STATUS_PATH).status_code == 400
    assert carrier(site, sent) == ("sent", None, None, None)


def test_a_bad_or_missing_signature_gets_403_and_changes_nothing(site):
    sent = sent_text(site)
    form = status_form("undelivered", error="21610")
    with site.client() as client:
        assert post_form(client, STATUS_PATH, form).status_code == 403
        forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="}
        assert post_form(client, STATUS_PATH, form, forged).status_code == 403
    assert site.signed_post(form, path=STATUS_PATH, token="another-token").status_code == 403
    # Signed for the inbound webhook's URL: the path is part of what is signed.
    inbound_url = PUBLIC_URL + "/webhooks/twilio/sms"
    assert site.signed_post(form, path=STATUS_PATH, signed_url=inbound_url).status_code == 403
    assert carrier(site, sent) == ("sent", None, None, None)
    [c1] = site.rows(customers, customers.c.id == "c1")
    assert c1["sms_consent_source"] is None
    assert site.rows(consent_changes) == []


def test_a_callback_signed_by_twilios_own_request_validator_is_accepted(site):
    sent = sent_text(site)
    form = status_form("delivered")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + STATUS_PATH, dict(form))
    with site.client() as client:
        answer = post_form(client, STATUS_PATH, form, {"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    assert carrier(site, sent)[:2] == ("sent", "delivered")


def test_without_twilio_settings_the_callback_answers_503(start_site):
    with start_site(twilio_auth_token=None) as site:
        sent = sent_text(site)
        assert callback(site, "delivered").status_code == 503
        assert carrier(site, sent) == ("sent", None, None, None)


def test_log_and_customer_show_carry_the_carrier_status(site, runner):
    sent_text(site)
    assert callback(site, "undelivered", error="30003").status_code == 200

    def run(*args):
        result = runner.invoke(app, [*args, "--project", str(site.dir)])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    [row] = json.loads(run("log", "--json"))["deliveries"]
    assert (row["status"], row["error"]) == ("sent", None)
    assert (row["carrier_status"], row["carrier_error"]) == ("undelivered", "30003")
    assert row["carrier_status_at"] == "2026-11-22T17:00:00Z"
    table = run("log")  # narrow in tests: cells wrap, so look for the parts
    assert "carrier" in table and "undeli" in table and "30003" in table
    [shown] = json.loads(run("customer", "show", "c1", "--json"))["deliveries"]
    assert {k: shown[k] for k in ("carrier_status", "carrier_error")} == {
        "carrier_status": "undelivered",
        "carrier_error": "30003",
    }
    shown_table = run("customer", "show", "c1")
    assert "carrier" in shown_table and "30003" in shown_table
