"""POST /webhooks/twilio/sms through a real server: signed texts are applied once and
answered with empty TwiML; anything unsigned or mis-signed gets 403 and changes nothing."""

from __future__ import annotations

from passcli.store.schema import customers, group_members, inbound_messages
from passcli.web.app import EMPTY_TWIML, MAX_WEBHOOK_BYTES, WEBHOOK_PATH
from passcli.web.signature import twilio_signature

from .conftest import AUTH_TOKEN, PHONE, PUBLIC_URL, inbound_form, post_form


def nothing_changed(site):
    assert site.rows(inbound_messages) == []
    assert site.rows(group_members) == []
    assert site.texts.sent == []


def test_a_signed_loyalty_text_joins_the_club_and_gets_empty_twiml(site):
    answer = site.signed_post(inbound_form("  loyalty "))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == EMPTY_TWIML
    [member] = site.rows(group_members)
    assert (member["group_name"], member["customer_id"]) == ("loyalty", "c1")
    [inbound] = site.rows(inbound_messages)
    assert (inbound["phone"], inbound["keyword"], inbound["provider_id"]) == (
        PHONE,
        "LOYALTY",
        "SM" + "a" * 32,
    )
    [reply] = site.texts.sent
    assert reply.to == PHONE
    assert reply.body.startswith("Welcome to the Explorer loyalty club!")


def test_a_retried_webhook_is_applied_once(site):
    for _ in range(2):
        assert site.signed_post(inbound_form("LOYALTY")).status_code == 200
    assert len(site.rows(inbound_messages)) == 1
    assert len(site.rows(group_members)) == 1
    assert len(site.texts.sent) == 1


def test_stop_opts_the_phone_out(site):
    assert site.signed_post(inbound_form("STOP")).status_code == 200
    [c1] = site.rows(customers, customers.c.id == "c1")
    assert c1["sms_opt_in"] is False


def test_the_signature_is_over_the_public_url_with_a_port_and_a_path(start_site):
    public = "https://passes.example.com:8443/hooks/"
    with start_site(public_url=public) as site:
        url = "https://passes.example.com:8443/hooks" + WEBHOOK_PATH
        assert site.signed_post(inbound_form("LOYALTY"), signed_url=url).status_code == 200
    assert len(site.rows(group_members)) == 1


def test_the_signature_covers_the_query_string(site):
    path = WEBHOOK_PATH + "?club=loyalty&lang=fr"
    bare = PUBLIC_URL + WEBHOOK_PATH
    assert site.signed_post(inbound_form("LOYALTY"), path=path, signed_url=bare).status_code == 403
    nothing_changed(site)
    assert site.signed_post(inbound_form("LOYALTY"), path=path).status_code == 200
    assert len(site.rows(group_members)) == 1


def test_a_bad_or_missing_signature_gets_403_and_changes_nothing(site):
    form = inbound_form("LOYALTY")
    with site.client() as client:
        assert post_form(client, WEBHOOK_PATH, form).status_code == 403
        forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="}
        assert post_form(client, WEBHOOK_PATH, form, forged).status_code == 403
    # Signed with another token, or for the URL the request reached (the Host header), or
    # for a different body than the one sent: all refused.
    assert site.signed_post(form, token="another-auth-token").status_code == 403
    assert site.signed_post(form, signed_url=site.url + WEBHOOK_PATH).status_code == 403
    other_body = twilio_signature(AUTH_TOKEN, PUBLIC_URL + WEBHOOK_PATH, inbound_form("HELP"))
    with site.client() as client:
        answer = post_form(client, WEBHOOK_PATH, form, {"X-Twilio-Signature": other_body})
        assert answer.status_code == 403
    nothing_changed(site)
    assert all(" 403 " in line for line in site.logs)


def test_a_sender_that_is_no_phone_number_gets_400_and_nothing_is_stored(site):
    answer = site.signed_post(inbound_form("LOYALTY", sender="not a phone"))
    assert answer.status_code == 400
    nothing_changed(site)


def test_a_form_without_a_sender_gets_400(site):
    form = [(name, value) for name, value in inbound_form("LOYALTY") if name != "From"]
    assert site.signed_post(form).status_code == 400
    nothing_changed(site)


def test_an_oversized_form_gets_413(site):
    answer = site.signed_post(inbound_form("x" * (MAX_WEBHOOK_BYTES + 1)))
    assert answer.status_code == 413
    nothing_changed(site)


def test_without_the_twilio_settings_the_webhook_answers_503(start_site):
    with start_site(twilio_auth_token="", public_url=None) as site:
        assert site.signed_post(inbound_form("LOYALTY"), signed_url=PUBLIC_URL).status_code == 503
    nothing_changed(site)


def test_the_log_holds_no_phone_body_or_signature(site):
    form = inbound_form("LOYALTY please")
    site.signed_post(form)
    [line] = site.logs
    assert line.startswith("2026-11-22T17:00:00Z POST /webhooks/twilio/sms 200 ")
    assert line.endswith("ms")
    for secret in (PHONE, "3035550123", "LOYALTY", "please", AUTH_TOKEN):
        assert secret not in line
