"""`passcli message preview NAME --customer ID` and `message list`, through the CLI."""

from __future__ import annotations

import json

import pytest

from passcli.cli.app import app
from passcli.delivery.unsubscribe import Claims, token_from, verify_token
from passcli.settings import load_settings

from .conftest import write_files

SEGMENTS = """\
segments:
  everyone:
    conditions:
      - attribute: {name: id, op: exists}
  gold:
    conditions:
      - attribute: {name: tier, op: equals, value: gold}
"""
MESSAGES = """\
messages:
  hello:
    title: Hello
    segments: [gold]
    channel: any
    subject: "Hi {{ customerFirstName }}"
    body: |
      Hello {{ customerFirstName }},
      see {{ dashboardUrl }}
    sms_body: "Hi {{ customerFirstName }}! Stop: {{ unsubscribeLink }}"
  text:
    segments: [everyone]
    channel: sms
    body: "Party \U0001f389 {{ customerId }}"
"""
SHAPE = {"message", "customer_id", "channel", "to", "subject", "body"}


@pytest.fixture
def previewing(project, store, monkeypatch):
    write_files(project, MESSAGES, SEGMENTS)
    store.customer("c1", first_name="Ada", attributes={"tier": "gold"})
    store.customer(
        "c2",
        first_name="Bo",
        email=None,
        phone="+13035550102",
        sms_opt_in=True,
        attributes={"tier": "gold"},
    )
    store.customer("c3", first_name="Cy", attributes={"tier": "silver"})
    monkeypatch.setenv("PASSCLI_NOW", "2026-11-22T10:00:00-07:00")
    monkeypatch.setenv("PASSCLI_DASHBOARD_URL", "https://passes.example/p/{customer_id}")
    return project


def preview(runner, project, name, customer):
    return runner.invoke(
        app,
        ["message", "preview", name, "--customer", customer, "--json", "--project", str(project)],
    )


def test_preview_json_has_the_contract_keys_and_the_rendered_email(runner, previewing):
    result = preview(runner, previewing, "hello", "c1")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert SHAPE <= set(document)
    assert {k: document[k] for k in SHAPE} == {
        "message": "hello",
        "customer_id": "c1",
        "channel": "email",
        "to": "c1@example.com",
        "subject": "Hi Ada",
        "body": "Hello Ada,\nsee https://passes.example/p/c1",
    }
    assert document["in_audience"] is True
    assert document["skip_reason"] is None


def test_preview_of_any_falls_back_to_sms_with_a_valid_unsubscribe_link(runner, previewing):
    result = preview(runner, previewing, "hello", "c2")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["channel"], document["to"], document["subject"]) == (
        "sms",
        "+13035550102",
        None,
    )
    assert document["body"].startswith("Hi Bo! Stop: https://example.com/unsubscribe?token=")
    key = load_settings(previewing).secret_key.get_secret_value()
    assert verify_token(key, token_from(document["body"])) == Claims("c2", "sms", None)
    assert document["sms"]["encoding"] == "GSM-7"
    assert document["sms"]["characters"] == len(document["body"])


def test_preview_of_an_sms_shows_its_size(runner, previewing):
    document = json.loads(preview(runner, previewing, "text", "c3").stdout)
    assert document["body"] == "Party \U0001f389 c3"
    assert document["sms"] == {"encoding": "UCS-2", "characters": 10, "parts": 1}


def test_preview_renders_for_a_customer_outside_the_audience_and_says_so(runner, previewing):
    document = json.loads(preview(runner, previewing, "hello", "c3").stdout)
    assert document["body"] == "Hello Cy,\nsee https://passes.example/p/c3"
    assert document["in_audience"] is False
    assert document["skip_reason"] == "not_in_audience"


def test_preview_of_an_unknown_customer_exits_1(runner, previewing):
    result = preview(runner, previewing, "hello", "nobody")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "error: no customer with id 'nobody'"


def test_preview_of_an_unknown_message_exits_2(runner, previewing):
    result = preview(runner, previewing, "helo", "c1")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown message 'helo'"


def test_message_list_json_lists_every_message(runner, previewing):
    result = runner.invoke(app, ["message", "list", "--json", "--project", str(previewing)])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(m["name"], m["channel"], m["segments"]) for m in document["messages"]] == [
        ("hello", "any", ["gold"]),
        ("text", "sms", ["everyone"]),
    ]
    assert document["messages"][0]["schedule"] == "manual (passcli send)"
