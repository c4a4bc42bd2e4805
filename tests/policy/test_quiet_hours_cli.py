"""Quiet hours end to end (SPEC §11): a send inside a customer's quiet hours is held, a
later run-due releases it exactly once when they end (unless misfire_grace has passed),
and consent and caps are checked again at release."""

from __future__ import annotations

from pathlib import Path

from passcli.store import write_transaction
from passcli.store.schema import customers

QUIET = 'quiet_hours: {start: "21:00", end: "08:00"}\n'
MESSAGES = """\
messages:
  hello:
    segments: [everyone]
    body: Hello {{ customerFirstName }}
    subject: Hello
  hello-sms:
    segments: [everyone]
    channel: sms
    body: Hello by text
  urgent:
    segments: [everyone]
    channel: sms
    body: Your pass expires tonight
    ignore_quiet_hours: true
  nightly:
    segments: [everyone]
    channel: sms
    body: Tonight only
    schedule: {at: "2026-12-06 20:00", misfire_grace: {hours: 2}}
"""
# 2026-12-07T03:00Z: 20:00 on the 6th in Denver (before quiet hours), 04:00 in Berlin (quiet
# until 08:00 there = 07:00Z), 14:00 in Sydney (day).
EVENING = "2026-12-07T03:00:00Z"
BERLIN_MORNING = "2026-12-07T07:00:00Z"


def outbox_files(project: Path) -> list[Path]:
    return sorted((project / "outbox").rglob("*.*"))


def test_a_held_send_is_released_once_when_the_quiet_hours_end(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", QUIET)
    report = shop.json("send", "hello", "--yes", now=EVENING)
    assert report["sent"] == {"email": 2, "sms": 0}
    assert report["held"] == 1 and report["skipped"] == {}
    assert report["audience"] == 3
    assert sorted(r["customer_id"] for r in report["recipients"]) == ["c1", "c3"]
    (held,) = shop.rows(status="held")
    assert (held["customer_id"], held["error"]) == ("c2", "quiet_hours")
    log = shop.json("log", "--customer", "c2", now=EVENING)["deliveries"]
    assert [(r["status"], r["error"]) for r in log] == [("held", "quiet_hours")]

    early = shop.json("run-due", now="2026-12-07T06:59:59Z")
    assert early["runs"] == []
    released = shop.json("run-due", now=BERLIN_MORNING)
    (run,) = released["runs"]
    assert run["message"] == "hello"
    assert run["occurrence"] == report["occurrence"]
    assert (run["audience"], run["sent"], run["held"]) == (1, {"email": 1, "sms": 0}, 0)
    assert run["recipients"] == [
        {"customer_id": "c2", "channel": "email", "to": "bert@example.com", "status": "sent"}
    ]
    assert shop.json("run-due", now="2026-12-07T07:01:00Z")["runs"] == []
    assert shop.json("run-due", now="2026-12-08T07:00:00Z")["runs"] == []
    assert shop.sent_to("c2") == ["hello"]
    assert len(outbox_files(shop.dir)) == 3


def test_channels_and_transactional_messages_are_not_held(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", 'quiet_hours: {start: "21:00", end: "08:00", channels: [sms]}\n')
    email = shop.json("send", "hello", "--yes", now=EVENING)
    assert (email["sent"]["email"], email["held"]) == (3, 0)
    text = shop.json("send", "hello-sms", "--yes", now=EVENING)
    assert (text["sent"]["sms"], text["held"]) == (2, 1)
    urgent = shop.json("send", "urgent", "--yes", now=EVENING)
    assert (urgent["sent"]["sms"], urgent["held"]) == (3, 0)


def test_a_dry_run_counts_holds_and_writes_nothing(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", QUIET)
    dry = shop.json("send", "hello", "--dry-run", now=EVENING)
    assert (dry["sent"]["email"], dry["held"]) == (2, 1)
    assert shop.rows() == []


def test_a_scheduled_send_held_past_its_misfire_grace_is_skipped(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", QUIET)
    # 20:00 Denver = 03:00Z: Berlin is held until 07:00Z, past the occurrence's 2 hours.
    first = shop.json("run-due", now=EVENING)
    (run,) = first["runs"]
    assert (run["message"], run["sent"]["sms"], run["held"]) == ("nightly", 2, 1)
    later = shop.json("run-due", now=BERLIN_MORNING)
    (released,) = later["runs"]
    assert released["sent"] == {"email": 0, "sms": 0}
    assert released["skipped"] == {"quiet_hours": 1}
    (row,) = shop.rows(customer_id="c2")
    assert (row["status"], row["error"]) == ("skipped", "quiet_hours")
    assert shop.json("run-due", now="2026-12-07T08:00:00Z")["runs"] == []
    report = shop.json("report", "message", "nightly", now="2026-12-07T08:00:00Z")
    (occurrence,) = report["occurrences"]
    assert occurrence["sent"]["sms"] == 2
    assert occurrence["skipped"] == {"quiet_hours": 1}
    assert occurrence["held"] == 0


def test_consent_is_checked_again_at_release(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", QUIET)
    shop.json("send", "hello", "--yes", now=EVENING)
    with write_transaction(shop.engine) as conn:
        conn.execute(
            customers.update()
            .where(customers.c.id == "c2")
            .values(email_opt_in=False, email_consent_source="person")
        )
    (run,) = shop.json("run-due", now=BERLIN_MORNING)["runs"]
    assert run["skipped"] == {"unsubscribed": 1} and run["sent"]["email"] == 0
    assert shop.sent_to("c2") == []


def test_caps_are_checked_again_when_two_held_sends_are_released_together(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", QUIET + "frequency_caps: [{channel: any, max: 1, per: {days: 1}}]\n")
    first = shop.json("send", "hello", "--yes", now=EVENING)
    second = shop.json("send", "hello-sms", "--yes", now="2026-12-07T03:05:00Z")
    assert (first["held"], second["held"]) == (1, 1)
    assert second["skipped"] == {"frequency_cap": 2}  # c1 and c3 got `hello` already
    runs = shop.json("run-due", now=BERLIN_MORNING)["runs"]
    assert sorted((r["message"], r["sent"]["email"] + r["sent"]["sms"]) for r in runs) == [
        ("hello", 1),
        ("hello-sms", 0),
    ]
    assert [r["skipped"] for r in runs if r["message"] == "hello-sms"] == [{"frequency_cap": 1}]
    assert shop.sent_to("c2") == ["hello"]


def test_a_dry_run_of_run_due_shows_the_release_and_changes_nothing(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", QUIET)
    shop.json("send", "hello", "--yes", now=EVENING)
    (run,) = shop.json("run-due", "--dry-run", now=BERLIN_MORNING)["runs"]
    assert (run["dry_run"], run["sent"]["email"]) == (True, 1)
    assert len(shop.rows(status="held")) == 1
    (run,) = shop.json("run-due", now=BERLIN_MORNING)["runs"]
    assert run["sent"]["email"] == 1
