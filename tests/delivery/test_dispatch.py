"""One occurrence end to end through the dispatcher: claims held by other runs, and a
recipient whose data breaks the message must not stop the run (SPEC §6)."""

from __future__ import annotations

import email
import json
from datetime import timedelta
from email import policy

from sqlalchemy import insert, update

from passcli.messages.audience import SKIP_REASONS
from passcli.store import write_transaction
from passcli.store.schema import customers, deliveries, runs

from .conftest import EXPIRATION_REMINDER, NOW, NOW_LABEL, WALL, invoke

SEND_KEY = f"manual:expiration-reminder:{NOW_LABEL}"


def recipients_of(example, name):
    return [r["customer_id"] for r in example.send(name, dry_run=True).recipients]


def claimed_by(example, run_id, customer_id, heartbeat):
    """A `sending` row of this very occurrence, claimed by another run."""
    with write_transaction(example.engine) as conn:
        conn.execute(
            insert(runs).values(
                id=run_id, command="send", started_at=heartbeat, heartbeat_at=heartbeat
            )
        )
        conn.execute(
            insert(deliveries).values(
                send_key=SEND_KEY,
                recipient=customer_id,
                kind="message",
                message="expiration-reminder",
                occurrence=NOW_LABEL,
                customer_id=customer_id,
                channel="email",
                address=example.customer(customer_id)["email"],
                status="sending",
                attempts=1,
                run_id=run_id,
                created_at=NOW,
                updated_at=NOW,
            )
        )


def row_of(example, customer_id):
    (row,) = [r for r in example.deliveries() if r["customer_id"] == customer_id]
    return row


def test_a_recipient_claimed_by_a_live_run_is_not_sent_again(examples):
    everyone = recipients_of(examples, "expiration-reminder")
    claimed_by(examples, "other-run", everyone[1], heartbeat=WALL)
    report = examples.send("expiration-reminder")
    sent = [r["customer_id"] for r in report.recipients]
    assert sent == everyone[:1] + everyone[2:]
    assert report.skipped.get("already_sent", 0) + report.held == 1
    row = row_of(examples, everyone[1])
    assert (row["status"], row["run_id"]) == ("sending", "other-run")
    assert len(list((examples.outbox / "email").glob("*.eml"))) == EXPIRATION_REMINDER - 1


def test_a_claim_of_a_run_that_died_becomes_unknown_and_is_not_resent(examples):
    everyone = recipients_of(examples, "expiration-reminder")
    claimed_by(examples, "dead-run", everyone[0], heartbeat=WALL - timedelta(minutes=2))
    report = examples.send("expiration-reminder")
    assert everyone[0] not in {r["customer_id"] for r in report.recipients}
    assert report.sent["email"] == EXPIRATION_REMINDER - 1
    assert row_of(examples, everyone[0])["status"] == "unknown"


def test_recipients_held_back_by_limit_are_held_not_skipped(examples, runner):
    result = invoke(
        runner, examples, "send", "expiration-reminder", "--dry-run", "--limit", "3", "--json"
    )
    document = json.loads(result.stdout)
    assert document["sent"]["email"] == 3
    assert set(document["skipped"]) <= set(SKIP_REASONS)
    assert document["held"] == EXPIRATION_REMINDER - 3


def test_a_line_break_in_a_customer_field_does_not_stop_the_run(examples):
    examples.write_messages(
        """\
        messages:
          hello:
            segments: [expires-soon]
            channel: email
            subject: "Hi {{ customerFirstName }}"
            body: Hello
        """
    )
    everyone = recipients_of(examples, "hello")
    with write_transaction(examples.engine) as conn:
        conn.execute(
            update(customers)
            .where(customers.c.id == everyone[1])
            .values(first_name="Ann\rBcc: evil@example.com")
        )
    report = examples.send("hello")
    reached = report.sent["email"] + report.skipped.get("render_error", 0) + report.failed
    assert reached == EXPIRATION_REMINDER
    assert report.sent["email"] >= EXPIRATION_REMINDER - 1
    for path in (examples.outbox / "email").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["Bcc"] is None
        assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"]
