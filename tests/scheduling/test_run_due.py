"""`run-due` in-process with a fixed `now` (SPEC §5 run-due, §6 delivery guarantees).

The first tests are the issue's done-when check: the repository's own messages.yaml over the
example data, run at 2026-11-22T10:00-07:00 and again a day later. Every expected recipient
list below was worked out from the schedules and the data (examples/README.md personas, plus
the random customers' consent columns in examples/customers.csv), not read back from passcli:

- At 10:00 on the 22nd, `welcome-2-day` (10:00) and `expiration-reminder` (09:00) are due
  today; `start-checking-in` (11:00) and `top-explorer-survey` (12:00) are not yet, so their
  latest due occurrence is yesterday's, 23 h and 22 h late: within the 24 h misfire grace, so
  sent now (coalescing runs the latest due occurrence, evaluated when it runs). `new-additions`
  is due on 2026-12-01 only.
- Every message is once_per_customer, so the second day reaches only the new members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select

from passcli.delivery.transports import BACKOFF
from passcli.messages.fingerprint import fingerprint
from passcli.store import read_transaction
from passcli.store.schema import customers, deliveries, occurrence_zones, occurrences, runs

from .conftest import (
    World,
    by_message,
    customer,
    email_message,
    example_project,
    pairs,
)

DAY_1 = "2026-11-22T10:00:00-07:00"
DAY_2 = "2026-11-23T10:00:00-07:00"
TRIES_PER_RUN = len(BACKOFF) + 1  # one run's immediate retries of a transient error


@pytest.fixture
def example(tmp_path: Path, example_engine: Engine) -> World:
    """The repository's segments.yaml and messages.yaml over the example data, in Denver."""
    directory = tmp_path / "example"
    example_project(directory)
    return World(directory, example_engine, org_zone="America/Denver")


# -- the done-when check ----------------------------------------------------------------------

DAY_1_SENDS = {
    # new-signups: c0000294 (SMS not opted in), c0000295 (no phone), c0000296 (SMS opted
    # in), c0000297 (SMS not opted in): an SMS message reaches Samir only.
    ("welcome-2-day", "2026-11-22T17:00:00Z"): ["c0000296"],
    # expires-soon: personas 2, 5, 6 (expires tonight), 8 (29 days), 10 and five random
    # customers; all have an email and email consent. Nora (c0000009, 30 days) is not in.
    ("expiration-reminder", "2026-11-22T16:00:00Z"): [
        "c0000002",
        "c0000005",
        "c0000006",
        "c0000008",
        "c0000010",
        "c0000047",
        "c0000167",
        "c0000168",
        "c0000170",
        "c0000173",
    ],
    # no-redemptions-yet (25), by SMS: those with a phone and SMS consent. Oliver (c0000024,
    # UK phone) and Samir (c0000296) are personas; c0000284 has a phone but no email.
    ("start-checking-in", "2026-11-21T18:00:00Z"): [
        "c0000024",
        "c0000168",
        "c0000253",
        "c0000271",
        "c0000284",
        "c0000285",
        "c0000296",
    ],
    # super-users (18) by email: all but c0000131, who has no email. Maya, Felix and Isla
    # are personas; Priya (exactly 100 points) and Noah (a mug, not the T-shirt) are not in.
    ("top-explorer-survey", "2026-11-21T19:00:00Z"): [
        "c0000001",
        "c0000002",
        "c0000010",
        "c0000028",
        "c0000029",
        "c0000042",
        "c0000060",
        "c0000081",
        "c0000106",
        "c0000112",
        "c0000119",
        "c0000127",
        "c0000128",
        "c0000167",
        "c0000191",
        "c0000223",
        "c0000239",
    ],
}
DAY_1_SKIPPED = {
    "welcome-2-day": {"no_address": 1, "not_opted_in": 2},
    "expiration-reminder": {},
    "start-checking-in": {"no_address": 8, "not_opted_in": 10},
    "top-explorer-survey": {"no_address": 1},
}

DAY_2_SENDS = {
    # new-signups on the 23rd bought on the 21st: Elsie (c0000298, local midnight, no phone)
    # and c0000284 (SMS opted in). Nobody bought on the 22nd: the data ends at 10:00 that day.
    ("welcome-2-day", "2026-11-23T17:00:00Z"): ["c0000284"],
    # Nora (c0000009) now has 29 days left; Ethan's pass (c0000006) expired at 03:00Z.
    # The other nine already had this message.
    ("expiration-reminder", "2026-11-23T16:00:00Z"): ["c0000009"],
    ("start-checking-in", "2026-11-22T18:00:00Z"): [],
    ("top-explorer-survey", "2026-11-22T19:00:00Z"): [],
}
DAY_2_SKIPPED = {
    "welcome-2-day": {"no_address": 1},
    "expiration-reminder": {"already_sent": 9},
    "start-checking-in": {"already_sent": 7, "no_address": 8, "not_opted_in": 10},
    "top-explorer-survey": {"already_sent": 17, "no_address": 1},
}
CHANNELS = {
    "welcome-2-day": "sms",
    "expiration-reminder": "email",
    "start-checking-in": "sms",
    "top-explorer-survey": "email",
}


def test_example_project_sends_exactly_the_messages_due_on_two_consecutive_days(
    example: World,
) -> None:
    first = example.run(DAY_1)

    assert by_message(first) == DAY_1_SENDS
    assert {run.message: dict(run.skipped) for run in first.runs} == DAY_1_SKIPPED
    assert first.missed == []
    assert {(run.message, r["channel"]) for run in first.runs for r in run.recipients} == set(
        CHANNELS.items()
    )

    second = example.run(DAY_2)

    assert by_message(second) == DAY_2_SENDS
    assert {run.message: dict(run.skipped) for run in second.runs} == DAY_2_SKIPPED
    assert second.missed == []

    sent = Counter(
        (d["message"], d["occurrence"], d["customer_id"])
        for d in example.deliveries(deliveries.c.status == "sent")
    )
    expected = {
        (message, occurrence, cid)
        for sends in (DAY_1_SENDS, DAY_2_SENDS)
        for (message, occurrence), ids in sends.items()
        for cid in ids
    }
    assert set(sent) == expected
    assert max(sent.values()) == 1
    # Each customer got each message at most once (once_per_customer), across both days.
    per_message = Counter((d["message"], d["customer_id"]) for d in example.deliveries())
    assert max(per_message.values()) == 1
    keys = [m.key for m in example.transport.sent]
    assert len(keys) == len(set(keys)) == len(expected) == 37


def test_example_project_second_run_at_the_same_instant_sends_nothing(example: World) -> None:
    example.run(DAY_1)
    example.transport.clear()

    again = example.run(DAY_1)
    later = example.run("2026-11-22T10:59:00-07:00")

    assert again.runs == [] and again.missed == []
    assert later.runs == [] and later.missed == []
    assert example.transport.sent == []


def test_example_project_occurrences_are_recorded_done_with_their_counts(example: World) -> None:
    example.run(DAY_1)

    rows = example.occurrences()

    assert pairs(rows, "message", "occurrence", "status") == [
        ("expiration-reminder", "2026-11-22T16:00:00Z", "done"),
        ("start-checking-in", "2026-11-21T18:00:00Z", "done"),
        ("top-explorer-survey", "2026-11-21T19:00:00Z", "done"),
        ("welcome-2-day", "2026-11-22T17:00:00Z", "done"),
    ]
    counts = {row["message"]: row["counts"] for row in rows}
    assert counts["expiration-reminder"]["sent"] == {"email": 10, "sms": 0}
    assert counts["start-checking-in"]["audience"] == 25
    project = example.project()
    assert {row["message"]: row["fingerprint"] for row in rows} == {
        name: fingerprint(project.messages[name]) for name in counts
    }


def test_every_run_accounts_for_its_whole_audience(example: World) -> None:
    for now in (DAY_1, DAY_2):
        for run in example.run(now).runs:
            document = run.to_json()
            total = (
                sum(document["sent"].values())
                + document["failed"]
                + sum(document["skipped"].values())
                + document["held"]
            )
            assert total == document["audience"], document["message"]


# -- (d) cron stopped: coalescing -------------------------------------------------------------


def test_cron_stopped_three_days_runs_one_coalesced_occurrence_per_message(
    example: World,
) -> None:
    example.run(DAY_1)
    example.transport.clear()

    back = example.run("2026-11-25T10:00:00-07:00")

    assert [(run.message, run.occurrence) for run in back.runs] == [
        ("welcome-2-day", "2026-11-25T17:00:00Z"),
        ("expiration-reminder", "2026-11-25T16:00:00Z"),
        ("start-checking-in", "2026-11-24T18:00:00Z"),
        ("top-explorer-survey", "2026-11-24T19:00:00Z"),
    ]
    assert sorted((m["message"], m["occurrence"]) for m in back.missed) == [
        ("expiration-reminder", "2026-11-23T16:00:00Z"),
        ("expiration-reminder", "2026-11-24T16:00:00Z"),
        ("start-checking-in", "2026-11-22T18:00:00Z"),
        ("start-checking-in", "2026-11-23T18:00:00Z"),
        ("top-explorer-survey", "2026-11-22T19:00:00Z"),
        ("top-explorer-survey", "2026-11-23T19:00:00Z"),
        ("welcome-2-day", "2026-11-23T17:00:00Z"),
        ("welcome-2-day", "2026-11-24T17:00:00Z"),
    ]
    statuses = {(r["message"], r["occurrence"]): r["status"] for r in example.occurrences()}
    for missed in back.missed:
        assert statuses[(missed["message"], missed["occurrence"])] == "missed"
    missed_labels = {m["occurrence"] for m in back.missed}
    assert not [d for d in example.deliveries() if d["occurrence"] in missed_labels]
    # Membership is evaluated at the coalesced run: Nora has joined expires-soon by now.
    assert by_message(back)[("expiration-reminder", "2026-11-25T16:00:00Z")] == ["c0000009"]
    # Nobody bought a pass on the 23rd (the data ends on the 22nd).
    assert next(r for r in back.runs if r.message == "welcome-2-day").audience == 0

    again = example.run("2026-11-25T10:05:00-07:00")
    assert again.runs == [] and again.missed == []


def test_first_run_of_a_new_message_records_no_missed_history(world: World) -> None:
    world.add(customer("a"))
    world.write({"news": email_message({"every": "1 day", "start": "2026-01-01 09:00"})})

    report = world.run("2026-11-22T09:30:00-07:00")

    assert [(r.message, r.occurrence) for r in report.runs] == [("news", "2026-11-22T16:00:00Z")]
    assert report.missed == []
    assert pairs(world.occurrences(), "occurrence", "status") == [("2026-11-22T16:00:00Z", "done")]


def test_coalescing_a_minute_schedule_after_a_day_off_caps_the_missed_rows(
    world: World,
) -> None:
    world.add(customer("a"))
    world.write(
        {
            "tick": email_message(
                {"every": "5 minutes", "start": "2026-11-01 00:00"}, once_per_customer=False
            )
        }
    )
    world.run("2026-11-21T09:00:00-07:00")

    report = world.run("2026-11-22T09:00:00-07:00")

    assert [r.occurrence for r in report.runs] == ["2026-11-22T16:00:00Z"]
    # 287 five-minute slots were skipped; at most 100 are written down, the newest.
    assert len(report.missed) == 100
    assert report.missed[-1]["occurrence"] == "2026-11-22T15:55:00Z"
    assert report.missed[0]["occurrence"] == "2026-11-22T07:40:00Z"


# -- one-time messages and the misfire grace ------------------------------------------------


def test_one_time_message_exactly_grace_late_is_still_sent(world: World) -> None:
    world.add(customer("a"))
    world.write({"sale": email_message({"at": "2026-11-20 10:00"})})

    report = world.run("2026-11-21T10:00:00-07:00")

    assert by_message(report) == {("sale", "2026-11-20T17:00:00Z"): ["a"]}
    assert report.missed == []


def test_one_time_message_more_than_grace_late_is_missed_not_sent(world: World) -> None:
    world.add(customer("a"))
    world.write({"sale": email_message({"at": "2026-11-20 10:00"})})

    report = world.run("2026-11-21T10:00:01-07:00")

    assert report.runs == []
    assert report.missed == [{"message": "sale", "occurrence": "2026-11-20T17:00:00Z"}]
    assert pairs(world.occurrences(), "message", "status") == [("sale", "missed")]
    assert world.transport.sent == []
    later = world.run("2026-11-23T10:00:00-07:00")
    assert later.runs == [] and later.missed == []  # recorded once, never sent


def test_misfire_grace_is_read_from_the_schedule(world: World) -> None:
    world.add(customer("a"))
    world.write(
        {
            "flash": email_message({"at": "2026-11-20 10:00", "misfire_grace": {"minutes": 30}}),
            "slow": email_message({"at": "2026-11-20 10:00", "misfire_grace": {"hours": 2}}),
        }
    )

    report = world.run("2026-11-20T10:45:00-07:00")

    assert [r.message for r in report.runs] == ["slow"]
    assert report.missed == [{"message": "flash", "occurrence": "2026-11-20T17:00:00Z"}]


def test_recurring_occurrence_more_than_grace_late_is_missed_and_the_next_one_runs(
    world: World,
) -> None:
    # SPEC §4 gives recurring schedules a misfire_grace too: a weekly message whose machine
    # was off for two days does not go out two days late; the next week's does.
    world.add(customer("a"))
    world.write(
        {
            "weekly": email_message(
                {"every": "1 week", "start": "2026-11-16 09:00"}, once_per_customer=False
            )
        }
    )
    world.run("2026-11-16T09:00:00-07:00")

    late = world.run("2026-11-25T09:00:00-07:00")  # the 23rd's was 48 h ago
    next_week = world.run("2026-11-30T09:00:00-07:00")

    assert late.runs == []
    assert late.missed == [{"message": "weekly", "occurrence": "2026-11-23T16:00:00Z"}]
    assert by_message(next_week) == {("weekly", "2026-11-30T16:00:00Z"): ["a"]}
    assert next_week.missed == []


def test_one_time_message_is_not_due_before_its_instant(world: World) -> None:
    world.add(customer("a"))
    world.write({"sale": email_message({"at": "2026-11-20 10:00"})})

    early = world.run("2026-11-20T09:59:59-07:00")
    on_time = world.run("2026-11-20T10:00:00-07:00")

    assert early.runs == [] and early.missed == []
    assert by_message(on_time) == {("sale", "2026-11-20T17:00:00Z"): ["a"]}


# -- changed, removed, renamed messages -------------------------------------------------------


def daily_at(hour: str, **overrides: Any) -> dict[str, Any]:
    return email_message({"every": "1 day", "start": f"2026-11-01 {hour}"}, **overrides)


def test_changed_schedule_applies_from_its_next_occurrence_and_history_keeps_its_fingerprint(
    world: World,
) -> None:
    world.add(customer("a"))
    world.write({"digest": daily_at("09:00", once_per_customer=False)})
    old = fingerprint(world.project().messages["digest"])
    world.run("2026-11-22T09:00:00-07:00")

    world.write({"digest": daily_at("15:00", once_per_customer=False)})
    new = fingerprint(world.project().messages["digest"])
    report = world.run("2026-11-22T15:00:00-07:00")

    assert old != new
    assert by_message(report) == {("digest", "2026-11-22T22:00:00Z"): ["a"]}
    assert report.missed == []  # a new version does not catch up
    assert pairs(world.occurrences(), "occurrence", "status", "fingerprint") == [
        ("2026-11-22T16:00:00Z", "done", old),
        ("2026-11-22T22:00:00Z", "done", new),
    ]
    assert pairs(world.deliveries(), "occurrence", "fingerprint") == [
        ("2026-11-22T16:00:00Z", old),
        ("2026-11-22T22:00:00Z", new),
    ]


def test_changed_schedule_does_not_send_an_occurrence_older_than_the_last_run(
    world: World,
) -> None:
    world.add(customer("a"))
    world.write({"digest": daily_at("09:00", once_per_customer=False)})
    world.run("2026-11-22T09:00:00-07:00")

    world.write({"digest": daily_at("15:00", once_per_customer=False)})
    report = world.run("2026-11-22T10:00:00-07:00")

    # Yesterday 15:00 (2026-11-21T22:00Z) was never an occurrence of the schedule in force;
    # the new schedule's next occurrence is today at 15:00.
    assert report.runs == []
    assert [m.key for m in world.transport.sent] == ["scheduled:digest:2026-11-22T16:00:00Z-a"]


def test_removed_message_stops(world: World) -> None:
    world.add(customer("a"))
    world.write({"keep": daily_at("09:00"), "drop": daily_at("09:00", once_per_customer=False)})
    world.run("2026-11-22T09:00:00-07:00")

    world.write({"keep": daily_at("09:00")})
    report = world.run("2026-11-23T09:00:00-07:00")

    assert [r.message for r in report.runs] == ["keep"]
    assert report.missed == []
    assert [r["occurrence"] for r in world.occurrences() if r["message"] == "drop"] == [
        "2026-11-22T16:00:00Z"
    ]


def test_renamed_message_is_new_and_reaches_customers_again(world: World) -> None:
    world.add(customer("a"), customer("b"))
    world.write({"hello": daily_at("09:00")})
    world.run("2026-11-22T09:00:00-07:00")

    world.write({"welcome": daily_at("09:00")})
    report = world.run("2026-11-23T09:00:00-07:00")

    assert by_message(report) == {("welcome", "2026-11-23T16:00:00Z"): ["a", "b"]}
    assert report.missed == []  # a new name has no history to catch up
    assert sorted({d["message"] for d in world.deliveries()}) == ["hello", "welcome"]


# -- transient failures and retries -----------------------------------------------------------


def test_transiently_failed_delivery_is_retried_by_the_next_run(world: World) -> None:
    world.add(customer("a"), customer("b"), customer("c"))
    world.write({"news": daily_at("09:00")})
    world.transport.failing.add("b@example.com")

    first = world.run("2026-11-22T09:00:00-07:00")
    world.transport.failing.clear()
    second = world.run("2026-11-22T09:15:00-07:00")

    assert by_message(first) == {("news", "2026-11-22T16:00:00Z"): ["a", "c"]}
    assert first.failed == 1
    assert world.transport.calls.count("b@example.com") == TRIES_PER_RUN + 1
    assert by_message(second) == {("news", "2026-11-22T16:00:00Z"): ["b"]}
    assert second.failed == 0
    assert pairs(world.deliveries(), "recipient", "status", "attempts") == [
        ("a", "sent", 1),
        ("b", "sent", 2),
        ("c", "sent", 1),
    ]
    assert sorted(m.to for m in world.transport.sent) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    third = world.run("2026-11-22T09:30:00-07:00")
    assert third.runs == []


def test_failed_delivery_is_tried_in_at_most_five_runs(world: World) -> None:
    world.add(customer("a"), customer("b"))
    world.write({"news": daily_at("09:00")})
    world.transport.failing.add("b@example.com")
    start = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)

    reports = [world.run(start + timedelta(minutes=15 * i)) for i in range(8)]

    assert [r.failed for r in reports] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert world.transport.calls.count("b@example.com") == 5 * TRIES_PER_RUN
    assert pairs(world.deliveries(), "recipient", "status", "attempts") == [
        ("a", "sent", 1),
        ("b", "failed", 5),
    ]
    assert [m.to for m in world.transport.sent] == ["a@example.com"]


def test_failed_delivery_is_not_retried_once_the_occurrence_is_older_than_the_grace(
    world: World,
) -> None:
    world.add(customer("a"))
    world.write({"sale": email_message({"at": "2026-11-22 09:00", "misfire_grace": {"hours": 1}})})
    world.transport.failing.add("a@example.com")
    world.run("2026-11-22T09:00:00-07:00")
    world.transport.failing.clear()

    late = world.run("2026-11-22T10:00:01-07:00")

    assert late.runs == []
    assert world.transport.sent == []
    assert pairs(world.deliveries(), "status", "attempts") == [("failed", 1)]


def test_failed_delivery_is_retried_while_within_the_grace(world: World) -> None:
    world.add(customer("a"))
    world.write({"sale": email_message({"at": "2026-11-22 09:00", "misfire_grace": {"hours": 1}})})
    world.transport.failing.add("a@example.com")
    world.run("2026-11-22T09:00:00-07:00")
    world.transport.failing.clear()

    in_time = world.run("2026-11-22T10:00:00-07:00")

    assert by_message(in_time) == {("sale", "2026-11-22T16:00:00Z"): ["a"]}


def test_permanent_failure_is_recorded_and_the_run_goes_on(world: World) -> None:
    world.add(customer("a"), customer("b"), customer("c"))
    world.write({"news": daily_at("09:00")})
    world.transport.permanent.add("a@example.com")

    report = world.run("2026-11-22T09:00:00-07:00")

    assert by_message(report) == {("news", "2026-11-22T16:00:00Z"): ["b", "c"]}
    assert report.failed == 1
    assert world.transport.calls.count("a@example.com") == 1  # no retry of a permanent error
    failed = world.deliveries(deliveries.c.status == "failed")
    assert pairs(failed, "recipient", "error") == [("a", "SMTP 550: no such user a@example.com")]


def test_transiently_failed_local_time_delivery_is_retried_by_the_next_run(
    world: World,
) -> None:
    world.add(customer("a"), customer("b"))
    world.write(
        {
            "morning": email_message(
                {"every": "1 day", "start": "2026-11-01 09:00", "local_time": True}
            )
        }
    )
    world.transport.failing.add("a@example.com")
    world.run("2026-11-22T09:00:00-07:00")
    world.transport.failing.clear()

    second = world.run("2026-11-22T09:15:00-07:00")

    assert by_message(second) == {("morning", "2026-11-22T09:00"): ["a"]}


# -- dry runs ---------------------------------------------------------------------------------


def store_counts(engine: Engine) -> dict[str, int]:
    with read_transaction(engine) as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (runs, occurrences, deliveries, occurrence_zones)
        }


def test_dry_run_shows_what_is_due_and_records_nothing(example: World) -> None:
    dry = example.run(DAY_1, dry_run=True)

    assert by_message(dry, status="dry_run") == DAY_1_SENDS
    assert {x["status"] for r in dry.runs for x in r.recipients} == {"dry_run"}
    assert dry.to_json()["dry_run"] is True
    assert store_counts(example.engine) == {
        "runs": 0,
        "occurrences": 0,
        "deliveries": 0,
        "occurrence_zones": 0,
    }
    assert example.transport.sent == []
    assert by_message(example.run(DAY_1)) == DAY_1_SENDS  # nothing was used up


def test_dry_run_lists_missed_occurrences_without_recording_them(world: World) -> None:
    world.add(customer("a"))
    world.write({"sale": email_message({"at": "2026-11-20 10:00"})})

    dry = world.run("2026-11-22T10:00:00-07:00", dry_run=True)

    assert dry.missed == [{"message": "sale", "occurrence": "2026-11-20T17:00:00Z"}]
    assert store_counts(world.engine)["occurrences"] == 0


def test_dry_run_after_the_real_run_shows_nothing_due(world: World) -> None:
    world.add(customer("a"))
    world.write({"news": daily_at("09:00")})
    world.run("2026-11-22T09:00:00-07:00")

    dry = world.run("2026-11-22T09:05:00-07:00", dry_run=True)

    assert dry.runs == [] and dry.missed == []


def test_dry_run_after_a_completed_local_time_occurrence_shows_nothing_due(
    world: World,
) -> None:
    world.add(customer("a"))
    world.write(
        {
            "morning": email_message(
                {"every": "1 day", "start": "2026-11-01 09:00", "local_time": True}
            )
        }
    )
    world.run("2026-11-22T09:00:00-07:00")

    dry = world.run("2026-11-22T09:05:00-07:00", dry_run=True)

    assert [sum(r.sent.values()) for r in dry.runs] == [0] * len(dry.runs)


# -- --limit ----------------------------------------------------------------------------------


def test_limit_sends_to_the_first_recipients_in_customer_id_order(world: World) -> None:
    world.add(*(customer(f"c{i}") for i in (3, 1, 4, 0, 2)))
    world.write({"news": daily_at("09:00")})

    report = world.run("2026-11-22T09:00:00-07:00", limit=2)

    assert by_message(report) == {("news", "2026-11-22T16:00:00Z"): ["c0", "c1"]}
    assert (report.runs[0].held, dict(report.runs[0].skipped)) == (3, {})


def test_limit_leaves_the_rest_for_the_next_run(world: World) -> None:
    world.add(*(customer(f"c{i}") for i in range(5)))
    world.write({"news": daily_at("09:00")})
    world.run("2026-11-22T09:00:00-07:00", limit=2)

    rest = world.run("2026-11-22T09:15:00-07:00")

    assert by_message(rest) == {("news", "2026-11-22T16:00:00Z"): ["c2", "c3", "c4"]}


# -- local time -------------------------------------------------------------------------------


def local_world(world: World, **schedule: Any) -> None:
    """Customers in three zones and one without (the organisation's, Denver), and a
    local-time message at 09:00 whose first occurrence is 2026-11-22."""
    world.add(
        customer("den", timezone="America/Denver"),
        customer("ber", timezone="Europe/Berlin"),
        customer("syd", timezone="Australia/Sydney"),
        customer("none", timezone=None),  # the organisation's zone
    )
    world.write(
        {
            "morning": email_message(
                {"every": "1 day", "start": "2026-11-22 09:00", "local_time": True, **schedule}
            )
        }
    )


def test_local_time_occurrence_reaches_each_zone_at_its_own_wall_time(world: World) -> None:
    local_world(world)

    sydney = world.run("2026-11-21T22:00:00Z")  # 09:00 AEDT on the 22nd
    berlin = world.run("2026-11-22T08:00:00Z")  # 09:00 CET
    denver = world.run("2026-11-22T16:00:00Z")  # 09:00 MST
    idle = world.run("2026-11-22T16:30:00Z")

    assert by_message(sydney) == {("morning", "2026-11-22T09:00"): ["syd"]}
    assert by_message(berlin) == {("morning", "2026-11-22T09:00"): ["ber"]}
    assert by_message(denver) == {("morning", "2026-11-22T09:00"): ["den", "none"]}
    assert sum(sum(r.sent.values()) for r in idle.runs) == 0
    assert pairs(world.occurrences(), "occurrence") == [("2026-11-22T09:00",)]
    assert pairs(world.occurrence_zones(), "zone", "status") == [
        ("America/Denver", "done"),
        ("Australia/Sydney", "done"),
        ("Europe/Berlin", "done"),
    ]


def test_a_local_time_occurrence_is_done_once_every_zone_has_had_it(world: World) -> None:
    local_world(world)

    world.run("2026-11-21T22:00:00Z")  # Sydney's 09:00
    world.run("2026-11-22T08:00:00Z")  # Berlin's
    assert pairs(world.occurrences(), "status", "finished_at") == [("running", None)]

    world.run("2026-11-22T16:00:00Z")  # Denver's, the last zone

    finished = datetime.fromisoformat("2026-11-22T16:00:00+00:00")
    assert pairs(world.occurrences(), "status", "finished_at") == [("done", finished)]
    (occurrence,) = world.occurrences()
    counts = occurrence["counts"]
    assert (counts["audience"], counts["sent"], counts["failed"]) == (
        4,
        {"email": 4, "sms": 0},
        0,
    )  # every zone's, not the last one's
    assert sorted(counts["zones"]) == [
        "America/Denver",
        "Australia/Sydney",
        "Europe/Berlin",
    ]


def test_a_local_time_occurrence_every_zone_missed_is_missed(world: World) -> None:
    local_world(world, misfire_grace={"hours": 1})

    # 13:00 in Denver, 21:00 in Berlin, 07:00 on the 23rd in Sydney: the 22nd's 09:00 was
    # more than an hour ago everywhere.
    report = world.run("2026-11-22T20:00:00Z")

    assert report.runs == [] and len(report.missed) == 3
    assert pairs(world.occurrences(), "occurrence", "status") == [("2026-11-22T09:00", "missed")]


def test_local_time_zone_more_than_grace_late_is_missed_for_that_zone_only(
    world: World,
) -> None:
    local_world(world, misfire_grace={"hours": 2})

    # 10:30 in Denver on the 22nd: 09:00 was 1.5 h ago there, but Berlin's 09:00 was 9.5 h
    # ago and Sydney's 09:00 on the 23rd is still ahead (its 22nd one was 19.5 h ago).
    report = world.run("2026-11-22T17:30:00Z")

    assert by_message(report) == {("morning", "2026-11-22T09:00"): ["den", "none"]}
    assert sorted((m["occurrence"], m.get("zone")) for m in report.missed) == [
        ("2026-11-22T09:00", "Australia/Sydney"),
        ("2026-11-22T09:00", "Europe/Berlin"),
    ]
    assert [m.to for m in world.transport.sent] == ["den@example.com", "none@example.com"]


def test_cron_stopped_local_time_records_the_skipped_occurrences_as_missed(
    world: World,
) -> None:
    local_world(world)
    world.run("2026-11-22T16:00:00Z")  # the 22nd, in every zone

    back = world.run("2026-11-25T16:00:00Z")

    assert {(r.message, r.occurrence) for r in back.runs} == {("morning", "2026-11-25T09:00")}
    assert sorted({m["occurrence"] for m in back.missed}) == [
        "2026-11-23T09:00",
        "2026-11-24T09:00",
    ]


def test_local_time_customer_membership_is_evaluated_at_their_run(world: World) -> None:
    world.add(
        customer("ber", timezone="Europe/Berlin", vip=False),
        customer("den", timezone="America/Denver", vip=False),
    )
    segments = {
        "vips": {"conditions": [{"attribute": {"name": "vip", "op": "equals", "value": True}}]}
    }
    world.write(
        {
            "perk": email_message(
                {"every": "1 day", "start": "2026-11-22 09:00", "local_time": True},
                segments=["vips"],
            )
        },
        segments,
    )
    world.run("2026-11-22T08:00:00Z")  # Berlin's 09:00: nobody is a VIP yet
    with world.engine.begin() as conn:
        conn.execute(customers.update().values(attributes={"vip": True}))

    denver = world.run("2026-11-22T16:00:00Z")

    assert by_message(denver) == {("perk", "2026-11-22T09:00"): ["den"]}


# -- concurrency within one process ----------------------------------------------------------


def test_run_started_while_another_is_sending_sends_nothing_twice(world: World) -> None:
    world.add(customer("a"), customer("b"), customer("c"))
    world.write({"news": daily_at("09:00")})
    inner: list[Any] = []
    original = world.transport.send

    def send_and_start_another_run(message: Any) -> str:
        if not inner:  # while the first run holds its claims, a second run-due starts
            inner.append(world.run("2026-11-22T09:00:30-07:00"))
        return original(message)

    world.transport.send = send_and_start_another_run  # type: ignore[method-assign]
    outer = world.run("2026-11-22T09:00:00-07:00")

    assert inner[0].runs == []  # the occurrence belongs to the live run
    assert by_message(outer) == {("news", "2026-11-22T16:00:00Z"): ["a", "b", "c"]}
    assert sorted(m.to for m in world.transport.sent) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    assert {d["status"] for d in world.deliveries()} == {"sent"}


def test_local_time_run_started_while_another_is_sending_sends_nothing_twice(
    world: World,
) -> None:
    local_world(world)
    inner: list[Any] = []
    original = world.transport.send

    def send_and_start_another_run(message: Any) -> str:
        if not inner:
            inner.append(world.run("2026-11-22T16:00:30Z"))
        return original(message)

    world.transport.send = send_and_start_another_run  # type: ignore[method-assign]
    outer = world.run("2026-11-22T16:00:00Z")

    assert sum(sum(r.sent.values()) for r in inner[0].runs) == 0
    assert sorted(m.to for m in world.transport.sent) == [
        "ber@example.com",
        "den@example.com",
        "none@example.com",
        "syd@example.com",
    ]
    assert sorted(x["customer_id"] for r in outer.runs for x in r.recipients) == [
        "ber",
        "den",
        "none",
        "syd",
    ]


class Crash(BaseException):
    """The process dying mid-send (not an Exception: nothing in passcli may catch it)."""


def test_delivery_left_sending_by_a_stopped_run_is_unknown_and_resent_only_when_asked(
    world: World,
) -> None:
    world.add(customer("a"))
    world.write({"news": daily_at("09:00")})
    original = world.transport.send

    def crash(message: Any) -> str:
        raise Crash

    world.transport.send = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.run("2026-11-22T09:00:00-07:00")
    world.transport.send = original  # type: ignore[method-assign]

    after = world.run("2026-11-22T09:15:00-07:00")

    assert [sum(r.sent.values()) for r in after.runs] == [0]
    assert pairs(world.deliveries(), "recipient", "status", "attempts") == [("a", "unknown", 1)]
    assert world.transport.sent == []

    retried = world.run("2026-11-22T09:20:00-07:00", retry_unknown=True)

    assert by_message(retried) == {("news", "2026-11-22T16:00:00Z"): ["a"]}
    assert pairs(world.deliveries(), "recipient", "status", "attempts") == [("a", "sent", 2)]
    assert world.run("2026-11-22T09:25:00-07:00", retry_unknown=True).runs == []
    assert len(world.transport.sent) == 1


# -- leases over time -------------------------------------------------------------------------


@contextmanager
def vm_steps(engine: Engine) -> Iterator[list[int]]:
    """Count SQLite virtual-machine steps (in tens) of every statement run on `engine`."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0  # carry on

    def install(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.set_progress_handler(tick, 10)

    event.listen(engine, "checkout", install)
    try:
        yield counted
    finally:
        event.remove(engine, "checkout", install)


def test_idle_run_due_work_does_not_grow_with_the_number_of_past_runs(
    world: World, database_url: str
) -> None:
    """`runs` gains a row per run-due (525,600 a year from cron every minute) and is never
    pruned: finding the dead runs must probe by id, not scan the table."""
    if not database_url.startswith("sqlite"):
        pytest.skip("counts SQLite virtual-machine steps")
    world.add(customer("a"), customer("b", timezone="Europe/Berlin"))
    world.write(
        {
            "news": daily_at("09:00"),
            "morning": email_message(
                {"every": "1 day", "start": "2026-11-01 09:00", "local_time": True}
            ),
        }
    )
    world.run("2026-11-22T09:00:00-07:00")
    world.run("2026-11-22T09:01:00-07:00")  # warm the statement caches
    with vm_steps(world.engine) as before:
        world.run("2026-11-22T09:02:00-07:00")
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    with world.engine.begin() as conn:  # a year of cron-started runs, all finished
        conn.execute(
            insert(runs),
            [
                {
                    "id": f"past-{i}",
                    "command": "run-due",
                    "started_at": long_ago,
                    "heartbeat_at": long_ago,
                    "finished_at": long_ago,
                }
                for i in range(20_000)
            ],
        )

    with vm_steps(world.engine) as after:
        world.run("2026-11-22T09:03:00-07:00")

    assert after[0] <= 3 * before[0] + 50, (before[0], after[0])


# -- the JSON document --------------------------------------------------------------------------


def test_report_json_has_the_contract_keys(example: World) -> None:
    document = example.run(DAY_1).to_json()

    assert {"at", "runs", "missed", "journeys"} <= set(document)
    assert document["journeys"] == []
    assert document["missed"] == []
    run = document["runs"][0]
    run["recipients"] = list(run["recipients"])  # a spool, streamed into --json
    assert {
        "message",
        "at",
        "occurrence",
        "dry_run",
        "audience",
        "sent",
        "failed",
        "skipped",
        "recipients",
    } <= set(run)
    assert run["message"] == "welcome-2-day"
    assert run["occurrence"] == "2026-11-22T17:00:00Z"
    assert run["recipients"] == [
        {"customer_id": "c0000296", "channel": "sms", "to": "+13035550132", "status": "sent"}
    ]
