"""`passcli send` and `passcli log` end to end on the example data, with the outbox."""

from __future__ import annotations

import email
import json
from email import policy

import pytest
import yaml

from passcli.messages.audience import SKIP_REASONS
from passcli.scaffold import template_text

from .conftest import EXPIRATION_REMINDER, NOW_LABEL, invoke

STARTER_MESSAGES = list(yaml.safe_load(template_text("messages.yaml"))["messages"])
CONTRACT = {"message", "at", "dry_run", "audience", "sent", "failed", "skipped", "recipients"}
# SPEC §5 also names `occurrence` (the send's instant for a manual send) and `held`.
SEND_KEYS = CONTRACT | {"occurrence", "held"}
RECIPIENT_KEYS = {"customer_id", "channel", "to", "status"}
LOG_KEYS = {
    *("message", "occurrence", "customer_id", "channel", "to", "status", "at", "error"),
    *("carrier_status", "carrier_error", "carrier_status_at"),
}
LATER = "2026-11-22T11:00:00-07:00"
NEXT_DAY = "2026-11-23T10:00:00-07:00"


def send(runner, example, name, *options):
    result = invoke(runner, example, "send", name, *options, "--json")
    document = json.loads(result.stdout) if result.stdout else None
    return result, document


def assert_balanced(document):
    """SPEC §5: audience = sent (all channels) + failed + sum(skipped) + held."""
    sent = document["sent"]
    assert set(sent) == {"email", "sms"}
    total = sent["email"] + sent["sms"] + document["failed"]
    assert document["audience"] == total + sum(document["skipped"].values()) + document["held"]


def outbox_files(example):
    return sorted(example.outbox.glob("*/*"))


def test_the_repository_messages_are_what_init_writes():
    assert STARTER_MESSAGES == [
        "new-additions",
        "welcome-2-day",
        "expiration-reminder",
        "start-checking-in",
        "top-explorer-survey",
    ]


@pytest.mark.parametrize("name", STARTER_MESSAGES)
def test_every_starter_message_dry_runs_with_the_contract_document(examples, runner, name):
    result, document = send(runner, examples, name, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert set(document) == SEND_KEYS
    assert (document["message"], document["at"], document["occurrence"]) == (
        name,
        NOW_LABEL,
        NOW_LABEL,
    )
    assert document["dry_run"] is True
    assert document["failed"] == 0
    assert set(document["skipped"]) <= set(SKIP_REASONS)
    assert_balanced(document)
    recipients = document["recipients"]
    assert recipients, f"{name} reaches nobody in the example data"
    assert all(set(r) == RECIPIENT_KEYS for r in recipients)
    assert {r["status"] for r in recipients} == {"dry_run"}
    assert len(recipients) == document["sent"]["email"] + document["sent"]["sms"]
    ids = [r["customer_id"] for r in recipients]
    assert ids == sorted(ids)
    for r in recipients:
        assert r["to"].startswith("+") if r["channel"] == "sms" else "@" in r["to"]
    # A dry run sends and records nothing.
    assert outbox_files(examples) == []
    assert examples.deliveries() == []


def test_a_dry_run_of_any_counts_both_channels(examples, runner):
    _, document = send(runner, examples, "new-additions", "--dry-run")
    channels = {r["channel"] for r in document["recipients"]}
    assert channels == {"email", "sms"}
    assert document["sent"]["email"] > 0 and document["sent"]["sms"] > 0


def test_a_real_send_writes_the_outbox_and_the_ledger(examples, runner):
    result, document = send(runner, examples, "new-additions", "--yes")
    assert result.exit_code == 0, result.stderr
    assert document["dry_run"] is False
    assert_balanced(document)
    recipients = {r["customer_id"]: r for r in document["recipients"]}
    assert {r["status"] for r in recipients.values()} == {"sent"}

    emails = sorted((examples.outbox / "email").glob("*.eml"))
    texts = sorted((examples.outbox / "sms").glob("*.json"))
    assert (len(emails), len(texts)) == (document["sent"]["email"], document["sent"]["sms"])
    by_address = {r["to"]: r for r in recipients.values()}
    for path in emails:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert by_address[msg["To"]]["channel"] == "email"
        assert msg["From"] == "passcli@example.com"
        assert msg["Subject"] == "New additions are coming to your pass!"
        assert msg["List-Unsubscribe"].startswith("<https://example.com/unsubscribe?token=v1.")
        assert msg.get_content().startswith("Hi ")
        assert "Our Organization" in msg.get_content()
    for path in texts:
        text = json.loads(path.read_text(encoding="utf-8"))
        assert set(text) == {"to", "body", "key"}
        assert by_address[text["to"]]["channel"] == "sms"
        assert text["body"].startswith("Our Organization: new locations and exclusive offers")
        assert text["key"].startswith(f"manual:new-additions:{NOW_LABEL}-")

    ledger = examples.deliveries()
    assert {row["customer_id"] for row in ledger} == set(recipients)
    assert {(row["status"], row["attempts"]) for row in ledger} == {("sent", 1)}


def test_limit_sends_to_the_first_n_by_customer_id_and_the_rest_stay_eligible(examples, runner):
    _, dry = send(runner, examples, "expiration-reminder", "--dry-run")
    everyone = [r["customer_id"] for r in dry["recipients"]]
    assert len(everyone) == EXPIRATION_REMINDER

    result, first = send(runner, examples, "expiration-reminder", "--yes", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    assert [r["customer_id"] for r in first["recipients"]] == everyone[:2]
    assert first["sent"] == {"email": 2, "sms": 0}
    assert_balanced(first)
    assert len(outbox_files(examples)) == 2

    result, rest = send(runner, examples, "expiration-reminder", "--yes", "--now", LATER)
    assert result.exit_code == 0, result.stderr
    assert [r["customer_id"] for r in rest["recipients"]] == everyone[2:]
    assert rest["skipped"] == {"already_sent": 2}
    assert len(outbox_files(examples)) == EXPIRATION_REMINDER


def test_once_per_customer_holds_across_sends_at_different_times(examples, runner):
    _, first = send(runner, examples, "expiration-reminder", "--yes")
    reached = {r["customer_id"] for r in first["recipients"]}
    result, second = send(runner, examples, "expiration-reminder", "--yes", "--now", NEXT_DAY)
    assert result.exit_code == 0, result.stderr
    assert_balanced(second)
    assert reached.isdisjoint(r["customer_id"] for r in second["recipients"])
    assert second["skipped"]["already_sent"] >= 1
    ledger = examples.deliveries()
    assert len(ledger) == len({row["customer_id"] for row in ledger})


def test_without_once_per_customer_a_later_send_reaches_them_again_but_not_twice_at_once(
    examples, runner
):
    examples.write_messages(
        """\
        messages:
          weekly:
            segments: [expires-soon]
            channel: email
            subject: Weekly
            body: Hello {{ customerFirstName }}
            once_per_customer: false
        """
    )
    _, first = send(runner, examples, "weekly", "--yes")
    _, same_time = send(runner, examples, "weekly", "--yes")
    _, later = send(runner, examples, "weekly", "--yes", "--now", LATER)
    assert first["sent"]["email"] == EXPIRATION_REMINDER
    assert same_time["sent"]["email"] == 0
    assert same_time["skipped"] == {"already_sent": EXPIRATION_REMINDER}
    assert later["sent"]["email"] == EXPIRATION_REMINDER
    assert len(outbox_files(examples)) == 2 * EXPIRATION_REMINDER


def test_a_real_send_without_yes_and_without_a_terminal_exits_2(examples, runner):
    result = invoke(runner, examples, "send", "expiration-reminder")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: a real send without a terminal needs --yes\n"
    assert outbox_files(examples) == []
    assert examples.deliveries() == []


def test_an_unknown_message_exits_2(examples, runner):
    result = invoke(runner, examples, "send", "expiration-reminders", "--dry-run")
    assert result.exit_code == 2
    assert result.stderr == "error: unknown message 'expiration-reminders'\n"


def test_a_real_send_needs_the_secret_key_but_a_dry_run_does_not(examples, runner):
    (examples.dir / ".env").unlink()
    result = invoke(runner, examples, "send", "expiration-reminder", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: PASSCLI_SECRET_KEY is required to send")
    assert result.stderr.count("\n") == 1
    assert outbox_files(examples) == []
    assert examples.deliveries() == []

    dry, document = send(runner, examples, "expiration-reminder", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert document["sent"]["email"] == EXPIRATION_REMINDER


def test_a_human_send_prints_the_table_on_stdout_and_the_summary_on_stderr(examples, runner):
    result = invoke(runner, examples, "send", "expiration-reminder", "--dry-run")
    assert result.exit_code == 0
    assert "customer" in result.stdout and "dry_run" in result.stdout
    assert result.stderr.strip() == (
        f"expiration-reminder: audience {EXPIRATION_REMINDER}; would send email "
        f"{EXPIRATION_REMINDER}, sms 0; failed 0; skipped 0"
    )


def test_log_json_lists_deliveries_newest_first_with_utc_instants(examples, runner):
    _, first = send(runner, examples, "expiration-reminder", "--yes")
    _, second = send(runner, examples, "welcome-2-day", "--yes", "--now", LATER)
    result = invoke(runner, examples, "log", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"deliveries"}
    rows = document["deliveries"]
    assert len(rows) == len(first["recipients"]) + len(second["recipients"])
    assert all(set(row) == LOG_KEYS for row in rows)
    newest = rows[0]
    (welcomed,) = second["recipients"]
    assert newest == {
        "message": "welcome-2-day",
        "occurrence": "2026-11-22T18:00:00Z",
        "customer_id": welcomed["customer_id"],
        "channel": "sms",
        "to": welcomed["to"],
        "status": "sent",
        "at": "2026-11-22T18:00:00Z",
        "error": None,
        "carrier_status": None,
        "carrier_error": None,
        "carrier_status_at": None,
    }
    assert {(row["occurrence"], row["at"]) for row in rows[1:]} == {(NOW_LABEL, NOW_LABEL)}

    by_message = json.loads(
        invoke(runner, examples, "log", "--message", "welcome-2-day", "--json").stdout
    )
    assert by_message["deliveries"] == [newest]
    one = first["recipients"][0]["customer_id"]
    by_customer = json.loads(invoke(runner, examples, "log", "--customer", one, "--json").stdout)
    assert [(r["customer_id"], r["message"]) for r in by_customer["deliveries"]] == [
        (one, "expiration-reminder")
    ]


def test_log_of_a_known_customer_without_deliveries_is_empty(examples, runner):
    result = invoke(runner, examples, "log", "--customer", "c0000001", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"deliveries": []}


def test_log_of_an_unknown_customer_exits_1(examples, runner):
    result = invoke(runner, examples, "log", "--customer", "UNKNOWN", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: no customer with id 'UNKNOWN'\n"
