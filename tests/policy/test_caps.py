"""Frequency caps end to end (SPEC §11): the N-th and N+1-th message, the window's edge,
tagged and untagged caps, transactional messages, what counts, and where skips show."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from passcli.store import write_transaction
from passcli.store.schema import deliveries

MESSAGES = """\
messages:
  sms-news:
    segments: [everyone]
    channel: sms
    body: News for {{ customerFirstName }}
    once_per_customer: false
  promo-a:
    segments: [everyone]
    body: Promo A
    subject: A
    tags: [promo]
    once_per_customer: false
  promo-b:
    segments: [everyone]
    body: Promo B
    subject: B
    tags: [promo, weekend]
    once_per_customer: false
  newsletter:
    segments: [everyone]
    body: Newsletter
    subject: News
    once_per_customer: false
  receipt:
    segments: [everyone]
    channel: sms
    body: Your receipt
    ignore_caps: true
    once_per_customer: false
"""
DAY0 = "2026-12-01T18:00:00Z"  # 11:00 in Denver (no quiet hours in these tests anyway)


def at(day: int, extra: str = "") -> str:
    """DAY0 plus `day` days (and an ISO-8601 time part like 'T17:59:59')."""
    base = datetime.fromisoformat(DAY0.replace("Z", "+00:00"))
    moment = base.replace(day=base.day + day)
    if extra:
        moment = datetime.fromisoformat(moment.date().isoformat() + extra).replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def sent(document):
    return document["sent"]["email"] + document["sent"]["sms"]


def test_the_nth_message_goes_and_the_next_is_skipped_until_the_window_moves(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 2, per: {days: 7}}]\n")
    first = shop.json("send", "sms-news", "--yes", now=at(0))
    second = shop.json("send", "sms-news", "--yes", now=at(1))
    assert (sent(first), sent(second)) == (3, 3)  # the 2nd message: at the cap, still sent
    third = shop.json("send", "sms-news", "--yes", now=at(2))
    assert sent(third) == 0
    assert third["skipped"] == {"frequency_cap": 3}
    assert third["audience"] == sum(third["skipped"].values())
    # One second before the first send leaves the 7-day window: still two in it.
    edge = shop.json("send", "sms-news", "--yes", now=at(7, "T17:59:59Z"))
    assert edge["skipped"] == {"frequency_cap": 3}
    # Exactly 7 days later the first no longer counts (the window is (now - 7 days, now]).
    moved = shop.json("send", "sms-news", "--yes", now=at(7))
    assert sent(moved) == 3
    assert shop.sent_to("c1") == ["sms-news"] * 3


def test_a_cap_on_one_channel_leaves_the_other_alone(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 1, per: {days: 7}}]\n")
    shop.json("send", "sms-news", "--yes", now=at(0))
    email = shop.json("send", "newsletter", "--yes", now=at(0, "T19:00:00Z"))
    assert email["sent"] == {"email": 3, "sms": 0}


def test_a_tagged_cap_counts_and_caps_only_tagged_messages(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write(
        "policy.yaml", "frequency_caps: [{channel: any, max: 1, per: {days: 1}, tags: [promo]}]\n"
    )
    assert sent(shop.json("send", "newsletter", "--yes", now=at(0))) == 3  # untagged: not counted
    assert sent(shop.json("send", "promo-a", "--yes", now=at(0, "T18:01:00Z"))) == 3
    again = shop.json("send", "promo-b", "--yes", now=at(0, "T18:02:00Z"))
    assert again["skipped"] == {"frequency_cap": 3}  # tagged promo too: capped
    untagged = shop.json("send", "newsletter", "--yes", now=at(0, "T18:03:00Z"))
    assert sent(untagged) == 3  # untagged messages are never capped by a tagged cap
    assert sent(shop.json("send", "promo-b", "--yes", now=at(1, "T18:01:00Z"))) == 3


def test_transactional_messages_ignore_caps_but_count(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 1, per: {days: 7}}]\n")
    assert sent(shop.json("send", "sms-news", "--yes", now=at(0))) == 3
    receipt = shop.json("send", "receipt", "--yes", now=at(1))
    assert sent(receipt) == 3 and receipt["skipped"] == {}
    # The receipt went out, so it counts: the window still holds two texts.
    later = shop.json("send", "sms-news", "--yes", now=at(7, "T18:30:00Z"))
    assert later["skipped"] == {"frequency_cap": 3}


def test_only_sent_messages_count_not_failed_test_or_reply_ones(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 1, per: {days: 7}}]\n")
    moment = datetime(2026, 12, 1, 12, tzinfo=UTC)
    rows = [
        ("failed", "message", "c1", "c1"),
        ("sent", "test", None, "sms:+13035550101"),
        ("sent", "reply", "c1", "sms:+13035550101"),
    ]
    with write_transaction(shop.engine) as conn:
        for n, (status, kind, customer_id, recipient) in enumerate(rows):
            conn.execute(
                insert(deliveries).values(
                    send_key=f"other:{n}",
                    recipient=recipient,
                    kind=kind,
                    message="sms-news",
                    customer_id=customer_id,
                    channel="sms",
                    address="+13035550101",
                    status=status,
                    attempts=1,
                    created_at=moment,
                    updated_at=moment,
                    sent_at=moment if status == "sent" else None,
                )
            )
    assert sent(shop.json("send", "sms-news", "--yes", now=at(0))) == 3


def test_cap_skips_show_in_the_log_and_the_report(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 1, per: {days: 7}}]\n")
    shop.json("send", "sms-news", "--yes", now=at(0))
    shop.json("send", "sms-news", "--yes", now=at(1))
    log = shop.json("log", "--customer", "c2", now=at(1))["deliveries"]
    assert [(row["status"], row["error"]) for row in log] == [
        ("skipped", "frequency_cap"),
        ("sent", None),
    ]
    report = shop.json("report", "message", "sms-news", now=at(1))
    assert report["total"]["skipped"] == {"frequency_cap": 3}
    assert report["total"]["sent"]["sms"] == 3


def test_a_dry_run_counts_cap_skips_and_writes_nothing(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 1, per: {days: 7}}]\n")
    shop.json("send", "sms-news", "--yes", now=at(0))
    before = len(shop.rows())
    dry = shop.json("send", "sms-news", "--dry-run", now=at(1))
    assert dry["skipped"] == {"frequency_cap": 3} and dry["recipients"] == []
    assert len(shop.rows()) == before


JOURNEY = """\
journeys:
  onboarding:
    entry: {segment: everyone}
    steps:
      - send: sms-news
"""


def test_journey_send_steps_are_capped_like_messages(shop):
    shop.write("messages.yaml", MESSAGES)
    shop.write("journeys.yaml", JOURNEY)
    shop.write("policy.yaml", "frequency_caps: [{channel: sms, max: 1, per: {days: 7}}]\n")
    shop.json("send", "receipt", "--yes", now=at(0))  # transactional, but it counts
    document = shop.json("run-due", now=at(0, "T18:05:00Z"))
    (journey,) = document["journeys"]
    assert (journey["journey"], journey["entered"], journey["sent"]) == ("onboarding", 3, 0)
    rows = shop.rows(kind="journey")
    assert {(r["customer_id"], r["status"], r["error"]) for r in rows} == {
        (c, "skipped", "frequency_cap") for c in ("c1", "c2", "c3")
    }
    report = shop.json("report", "journey", "onboarding", now=at(0, "T18:06:00Z"))
    (step,) = report["steps"]
    assert step["skipped"] == {"frequency_cap": 3}
