"""Signed unsubscribe tokens (SPEC §6) and `passcli unsubscribe TOKEN|LINK`."""

from __future__ import annotations

import base64
import email
import json
from email import policy

import pytest
from sqlalchemy import select

from passcli.delivery.unsubscribe import (
    Claims,
    apply_unsubscribe,
    make_token,
    token_from,
    unsubscribe_link,
    verify_token,
)
from passcli.errors import NotFoundError, UsageError
from passcli.settings import load_settings
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import consent_changes

from .conftest import NOW, NOW_LABEL, invoke

KEY = "k" * 43
CLAIMS = Claims("c0000001", "email", "manual:news:2026-11-22T17:00:00Z")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_round_trips_its_claims():
    assert verify_token(KEY, make_token(KEY, CLAIMS)) == CLAIMS
    preview = Claims("c1", "sms")
    assert verify_token(KEY, make_token(KEY, preview)) == preview


def test_a_token_is_url_safe_and_found_in_a_link():
    token = make_token(KEY, CLAIMS)
    assert token.startswith("v1.")
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    link = unsubscribe_link("https://passes.example/u?lang=en", token)
    assert link == f"https://passes.example/u?lang=en&token={token}"
    assert token_from(link) == token
    assert token_from(f"  {token}\n") == token
    assert verify_token(KEY, link) == CLAIMS


def forged_signature():
    version, payload, signature = make_token(KEY, CLAIMS).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{version}.{payload}.{flipped}"


def altered_payload():
    version, _, signature = make_token(KEY, CLAIMS).split(".")
    other = b64(json.dumps({"c": "c0000002", "ch": "email"}, separators=(",", ":")).encode())
    return f"{version}.{other}.{signature}"


def wrong_version():
    _, payload, signature = make_token(KEY, CLAIMS).split(".")
    return f"v2.{payload}.{signature}"


def wrong_key():
    return make_token("another-key", CLAIMS)


def signed_garbage():
    # Correctly signed, but the payload is not the claims passcli writes.
    from passcli.messages.tokens import _signature

    payload = b64(b'{"customer": "c1"}')
    return f"v1.{payload}.{_signature(KEY, f'v1.{payload}')}"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (forged_signature(), "the unsubscribe token's signature does not match: refused"),
        (altered_payload(), "the unsubscribe token's signature does not match: refused"),
        (wrong_key(), "the unsubscribe token's signature does not match: refused"),
        (wrong_version(), "not a passcli unsubscribe token"),
        ("v1.only-two", "not a passcli unsubscribe token"),
        ("", "not a passcli unsubscribe token"),
        (signed_garbage(), "the unsubscribe token is malformed"),
    ],
    ids=["forged", "altered", "wrong-key", "wrong-version", "truncated", "empty", "malformed"],
)
def test_a_bad_token_is_refused(token, message):
    with pytest.raises(UsageError) as caught:
        verify_token(KEY, token)
    assert str(caught.value) == message


def test_a_token_for_an_unknown_channel_is_refused():
    with pytest.raises(UsageError, match="names no channel"):
        verify_token(KEY, make_token(KEY, Claims("c1", "fax")))


def test_applying_a_token_for_an_unknown_customer_is_not_found(examples):
    with pytest.raises(NotFoundError), write_transaction(examples.engine) as conn:
        apply_unsubscribe(conn, Claims("nobody", "email"), NOW)


# -- end to end ------------------------------------------------------------------------------


@pytest.fixture
def sent(examples):
    """The example project after a real (outbox) send of an SMS that carries the link."""
    report = examples.send("start-checking-in")
    assert report.sent["sms"] > 0
    return examples


def first_sms(example):
    path = sorted((example.outbox / "sms").glob("*.json"))[0]
    return json.loads(path.read_text(encoding="utf-8"))


def recipient_of(example, phone):
    return next(r["customer_id"] for r in example.deliveries() if r["address"] == phone)


def all_consent_changes(example):
    with read_transaction(example.engine) as conn:
        return conn.execute(select(consent_changes)).all()


def test_unsubscribe_applies_the_link_of_a_sent_sms(sent, runner):
    message = first_sms(sent)
    link = next(word for word in message["body"].split() if "token=" in word)
    customer_id = recipient_of(sent, message["to"])
    before = sent.customer(customer_id)
    assert before["sms_opt_in"] is True

    result = invoke(runner, sent, "unsubscribe", link, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "customer_id": customer_id,
        "channel": "sms",
        "changed": True,
    }
    customer = sent.customer(customer_id)
    assert (customer["sms_opt_in"], customer["sms_consent_source"]) == (False, "person")
    # Only the token's channel changes.
    assert (customer["email_opt_in"], customer["email_consent_source"]) == (
        before["email_opt_in"],
        before["email_consent_source"],
    )
    (change,) = sent.consent_changes(customer_id)
    assert (change["channel"], change["opted_in"], change["at"]) == ("sms", False, NOW)
    assert change["detail"] == f"manual:start-checking-in:{NOW_LABEL}"

    # The same link again changes nothing and says so.
    again = invoke(runner, sent, "unsubscribe", link)
    assert again.exit_code == 0
    assert f"{customer_id} was already unsubscribed from sms" in again.stderr
    assert len(sent.consent_changes(customer_id)) == 1

    # A later import of the customers file (sms_opt_in=true for them) does not undo it.
    sent.reimport_customers()
    customer = sent.customer(customer_id)
    assert (customer["sms_opt_in"], customer["sms_consent_source"]) == (False, "person")
    assert customer_id not in {
        r["customer_id"]
        for r in sent.send("start-checking-in", dry_run=True, now=NOW.replace(hour=11)).recipients
    }


def test_unsubscribe_takes_the_one_click_link_of_a_sent_email(examples, runner):
    examples.send("expiration-reminder")
    path = sorted((examples.outbox / "email").glob("*.eml"))[0]
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    link = msg["List-Unsubscribe"].strip("<>")
    customer_id = recipient_of(examples, msg["To"])
    result = invoke(runner, examples, "unsubscribe", link)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == f"{customer_id} is unsubscribed from email"
    customer = examples.customer(customer_id)
    assert (customer["email_opt_in"], customer["email_consent_source"]) == (False, "person")
    (change,) = examples.consent_changes(customer_id)
    assert change["detail"] == f"manual:expiration-reminder:{NOW_LABEL}"


def test_a_bare_token_from_a_preview_is_accepted(examples, runner):
    key = load_settings(examples.dir).secret_key.get_secret_value()
    token = make_token(key, Claims("c0000001", "email"))
    result = invoke(runner, examples, "unsubscribe", token, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["changed"] is True
    (change,) = examples.consent_changes("c0000001")
    assert change["detail"] is None


REFUSED = "error: the unsubscribe token's signature does not match: refused\n"


@pytest.mark.parametrize(
    ("tamper", "stderr"),
    [
        ("signature", REFUSED),
        ("payload", REFUSED),
        ("key", REFUSED),
        ("version", "error: not a passcli unsubscribe token\n"),
    ],
)
def test_a_forged_link_exits_2_with_one_sentence_and_changes_nothing(sent, runner, tamper, stderr):
    message = first_sms(sent)
    link = next(word for word in message["body"].split() if "token=" in word)
    customer_id = recipient_of(sent, message["to"])
    base, token = link.split("token=")
    version, payload, signature = token.split(".")
    if tamper == "signature":
        token = f"{version}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    elif tamper == "payload":
        other = b64(json.dumps({"c": "c0000001", "ch": "sms"}, separators=(",", ":")).encode())
        token = f"{version}.{other}.{signature}"
    elif tamper == "key":
        token = make_token("not-the-project-key", Claims(customer_id, "sms"))
    else:
        token = f"v2.{payload}.{signature}"
    before = sent.customer(customer_id)

    result = invoke(runner, sent, "unsubscribe", f"{base}token={token}")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == stderr
    assert sent.customer(customer_id) == before
    assert all_consent_changes(sent) == []


def test_unsubscribe_without_a_secret_key_exits_2(examples, runner):
    key = load_settings(examples.dir).secret_key.get_secret_value()
    token = make_token(key, Claims("c0000001", "email"))
    (examples.dir / ".env").unlink()
    result = invoke(runner, examples, "unsubscribe", token)
    assert result.exit_code == 2
    assert result.stderr == "error: PASSCLI_SECRET_KEY is not set: cannot check the token\n"
    assert examples.customer("c0000001")["email_opt_in"] is True
