"""`passcli report message`: its numbers against counts computed independently, in plain SQL,
from the ledger, the consent changes and the events; and by hand for a known scenario."""

from __future__ import annotations

import csv
import io
import json

import pytest

from .conftest import REPORT_AT, order

SMS_KEY = "manual:start-checking-in:2026-11-22T17:00:00Z"
SMS_WINDOW = 3 * 86400
EMAIL_WINDOW = 2 * 86400


@pytest.fixture
def followed(scenario):
    """Conversions, link unsubscribes and STOPs after the sends (see each line)."""
    s = scenario
    # welcome-2-day texts c0000296 an hour after start-checking-in did: her STOP is its.
    s.invoke("send", "welcome-2-day", "--yes", "--now", "2026-11-22T11:00:00-07:00")
    s.import_events(
        [
            order("c0000024", "2026-11-23T12:00:00Z", 30, 1),  # text: converts
            order("c0000168", "2026-11-23T12:00:00Z", 100, 2),  # text and email: convert
            order("c0000168", "2026-11-24T12:00:00Z", 10, 3),  # a second order: counted once
            order("c0000253", "2026-11-22T16:00:00Z", 80, 4),  # before the text: no
            order("c0000285", "2026-11-25T17:00:00Z", 5, 5),  # exactly 3 days after: converts
            order("c0000271", "2026-11-25T17:00:01Z", 5, 6),  # a second too late: no
            order("c0000002", "2026-11-23T09:00:00Z", 80, 7),  # email, over 50: converts
            order("c0000005", "2026-11-23T09:00:00Z", 20, 8),  # email, 50 or less: no
            order("c0000006", "2026-11-24T18:00:00Z", 90, 9),  # email, 2 days 1 hour: no
            order("c0000009", "2026-11-26T17:00:00Z", 60, 10),  # the second email: converts
            order("c0000010", "2026-12-05T17:00:00Z", 60, 11),  # after the report's now: no
        ]
    )
    # Links: the text's (days later: a link names its delivery, whenever it is used), and an
    # email's one-click link.
    s.invoke("unsubscribe", s.sms_link("c0000024", SMS_KEY), "--now", "2026-11-29T10:00")
    s.invoke("unsubscribe", s.sms_link("c0000284", SMS_KEY), "--now", "2026-11-22T12:00")
    s.invoke("unsubscribe", s.email_link("isla.murray@example.com"), "--now", "2026-11-23T08:00")
    phones = {c: a for c, a, _ in s.recipients("start-checking-in", "sms")}
    for customer_id, at in [
        ("c0000253", "2026-11-23T08:00"),  # within 3 days of the text
        ("c0000284", "2026-11-22T13:00"),  # after using the link too: counted once
        ("c0000271", "2026-11-26T08:00"),  # more than 3 days later: not attributed
        ("c0000296", "2026-11-22T12:00"),  # welcome-2-day was the last text before it
    ]:
        s.invoke("sms", "receive", "--from", phones[customer_id], "--body", "STOP", "--now", at)
    return s


def report(s, name, *args):
    result = s.invoke("report", "message", name, "--json", *args)
    return json.loads(result.stdout)


# -- the independent computation ---------------------------------------------------------------

SENT = "d.kind = 'message' AND d.message = :m AND d.status = 'sent' AND d.sent_at <= :now"


def expected(s, name, window, where, now):
    """Per occurrence label: sent by channel, unsubscribes by channel, conversions."""
    result = {}
    for label, channel, sent in s.rows(
        "SELECT o.occurrence, d.channel, COUNT(*) FROM deliveries d"
        " JOIN occurrences o ON o.id = d.occurrence_id"
        f" WHERE {SENT} GROUP BY o.occurrence, d.channel",
        m=name,
        now=now,
    ):
        result.setdefault(label, {"sent": {}, "unsubscribes": {}, "conversions": 0})
        result[label]["sent"][channel] = sent
    link = (
        "EXISTS (SELECT 1 FROM consent_changes c WHERE c.customer_id = d.customer_id"
        " AND c.source = 'unsubscribe' AND c.detail = d.send_key AND c.at <= :now)"
    )
    stop = (
        "d.channel = 'sms' AND EXISTS (SELECT 1 FROM consent_changes c"
        " WHERE c.customer_id = d.customer_id AND c.channel = 'sms' AND c.source = 'keyword'"
        " AND c.opted_in = :no AND c.at >= d.sent_at AND c.at <= d.sent_at + :w"
        " AND c.at <= :now AND NOT EXISTS (SELECT 1 FROM deliveries x"
        "  WHERE x.customer_id = d.customer_id AND x.channel = 'sms' AND x.status = 'sent'"
        "  AND x.kind IN ('message', 'journey') AND x.sent_at <= c.at AND (x.sent_at > d.sent_at"
        "   OR (x.sent_at = d.sent_at AND x.id > d.id))))"
    )
    for label, channel, count in s.rows(
        "SELECT o.occurrence, d.channel, COUNT(*) FROM deliveries d"
        " JOIN occurrences o ON o.id = d.occurrence_id"
        f" WHERE {SENT} AND (({link}) OR ({stop})) GROUP BY o.occurrence, d.channel",
        m=name,
        now=now,
        w=window,
        no=False,
    ):
        result[label]["unsubscribes"][channel] = count
    for label, count in s.rows(
        "SELECT o.occurrence, COUNT(*) FROM deliveries d"
        " JOIN occurrences o ON o.id = d.occurrence_id"
        f" WHERE {SENT} AND EXISTS (SELECT 1 FROM events e"
        "  WHERE e.customer_id = d.customer_id AND e.event = 'Order Completed'"
        "  AND e.ts > d.sent_at AND e.ts <= d.sent_at + :w AND e.ts <= :now"
        f"  {where}) GROUP BY o.occurrence",
        m=name,
        now=now,
        w=window,
    ):
        result[label]["conversions"] = count
    return result


REVENUE_OVER_50 = (
    "AND EXISTS (SELECT 1 FROM event_numbers n WHERE n.message_id = e.message_id"
    " AND n.name = 'revenue' AND n.value > 50)"
)
REPORT_EPOCH = 1796230800  # 2026-12-02T17:00:00Z


def observed(document):
    return {
        row["occurrence"]: {
            "sent": {k: v for k, v in row["sent"].items() if v},
            "unsubscribes": {k: v for k, v in row["unsubscribes"].items() if v},
            "conversions": row["conversions"],
        }
        for row in document["occurrences"]
        if any(row["sent"].values())
    }


def test_the_text_report_matches_the_ledger(followed):
    document = report(followed, "start-checking-in")
    assert observed(document) == expected(
        followed, "start-checking-in", SMS_WINDOW, "", REPORT_EPOCH
    )
    first, second = document["occurrences"]
    assert (first["occurrence"], second["occurrence"]) == (
        "2026-11-22T17:00:00Z",
        "2026-11-25T17:00:00Z",
    )
    # By hand: c0000024, c0000168 and c0000285 converted; c0000024 (link, days later),
    # c0000284 (link and STOP) and c0000253 (STOP) unsubscribed.
    assert first["sent"] == {"email": 0, "sms": 7}
    assert first["conversions"] == 3
    assert first["conversion_rate"] == round(3 / 7, 4)
    assert first["unsubscribes"] == {"email": 0, "sms": 3}
    assert first["audience"] == 25
    assert first["skipped"] == {"no_address": 8, "not_opted_in": 10}
    assert second["sent"] == {"email": 0, "sms": 0}
    assert second["skipped"]["already_sent"] == 7
    assert second["conversion_rate"] is None
    total = document["total"]
    assert total["audience"] == 50
    assert total["conversions"] == 3
    assert total["skipped"] == {"already_sent": 7, "no_address": 16, "not_opted_in": 20}
    assert document["conversion"] == {
        "event": "Order Completed",
        "where": [],
        "within_seconds": SMS_WINDOW,
    }
    assert document["unsubscribe_window_seconds"] == SMS_WINDOW
    assert document["sends_by_day"] == [
        {"day": "2026-11-22", "email": 0, "sms": 7},
    ]
    # audience = sent + failed + skipped + held, per occurrence
    for row in document["occurrences"]:
        assert (
            row["audience"]
            == sum(row["sent"].values())
            + row["failed"]
            + row["pending"]
            + sum(row["skipped"].values())
            + row["held"]
        )


def test_the_email_report_matches_the_ledger_with_where_filters(followed):
    document = report(followed, "expiration-reminder")
    assert observed(document) == expected(
        followed, "expiration-reminder", EMAIL_WINDOW, REVENUE_OVER_50, REPORT_EPOCH
    )
    first, second = document["occurrences"]
    assert (first["conversions"], second["conversions"]) == (2, 1)  # c0000002, c0000168; c0000009
    assert first["unsubscribes"] == {"email": 1, "sms": 0}  # c0000010's one-click link
    assert document["total"]["sent"] == {"email": 11, "sms": 0}
    assert document["total"]["conversion_rate"] == round(3 / 11, 4)
    assert document["sends_by_day"][0] == {"day": "2026-11-22", "email": 10, "sms": 0}
    assert document["sends_by_day"][-1] == {"day": "2026-11-25", "email": 1, "sms": 0}
    assert len(document["sends_by_day"]) == 4  # every day in between, for the chart


def test_the_stop_goes_to_the_last_text_before_it(followed):
    welcome = report(followed, "welcome-2-day")
    assert welcome["total"]["unsubscribes"]["sms"] == 1  # c0000296
    assert welcome["conversion"] is None
    assert welcome["total"]["conversions"] is None
    assert welcome["unsubscribe_window_seconds"] == 3 * 86400  # the default
    assert observed(welcome) == {
        label: {**row, "conversions": None}
        for label, row in expected(followed, "welcome-2-day", 3 * 86400, "", REPORT_EPOCH).items()
    }


def test_an_earlier_now_counts_only_what_had_happened_by_then(followed):
    at = "2026-11-23T10:00:00-07:00"  # 2026-11-23T17:00:00Z
    document = report(followed, "start-checking-in", "--now", at)
    epoch = 1795453200
    assert observed(document) == expected(followed, "start-checking-in", SMS_WINDOW, "", epoch)
    first = document["occurrences"][0]
    assert first["conversions"] == 2  # c0000168 and c0000024 by then
    assert first["unsubscribes"] == {"email": 0, "sms": 2}  # c0000284 and c0000253
    assert len(document["occurrences"]) == 1  # the second had not happened


def test_csv_has_a_row_per_occurrence_and_a_total(followed):
    result = followed.invoke("report", "message", "start-checking-in", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["occurrence"] for r in rows] == [
        "2026-11-22T17:00:00Z",
        "2026-11-25T17:00:00Z",
        "total",
    ]
    assert rows[0]["sent_sms"] == "7"
    assert rows[0]["skipped_not_opted_in"] == "10"
    assert rows[1]["skipped_already_sent"] == "7"
    assert rows[0]["skipped_already_sent"] == "0"
    assert rows[0]["conversions"] == "3"
    assert rows[0]["conversion_rate"] == "0.4286"
    assert rows[1]["conversion_rate"] == ""
    assert rows[2]["unsubscribes_sms"] == "3"


def test_the_table_shows_the_totals(followed):
    result = followed.invoke("report", "message", "start-checking-in")
    assert "start-checking-in: Start Checking-In!" in result.stdout
    assert "converts on Order Completed within 3 days after delivery" in result.stdout
    assert "42.9%" in result.stdout


def test_an_unknown_message_is_bad_usage(scenario):
    result = scenario.invoke("report", "message", "start-checking", ok=False)
    assert result.exit_code == 2
    assert "unknown message 'start-checking'" in result.stderr
    assert "start-checking-in" in result.stderr  # did you mean


def test_json_and_csv_together_are_bad_usage(scenario):
    result = scenario.invoke(
        "report", "message", "start-checking-in", "--json", "--format", "csv", ok=False
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: give --json or --format csv, not both"


def test_a_message_without_sends_reports_nothing_sent(scenario):
    document = report(scenario, "top-explorer-survey")
    assert document["occurrences"] == []
    assert document["total"]["sent"] == {"email": 0, "sms": 0}
    assert document["sends_by_day"] == []
    assert REPORT_AT  # the fixture pins now
