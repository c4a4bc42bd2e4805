"""Calendar periods of usage limits: local midnights in the organisation's zone, weeks from
Monday, DST days of 23 and 25 hours, month and year ends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from passcli.offers.periods import period_bounds, period_label
from passcli.offers.report import latest_periods
from passcli.timeutil import UTC, zone

DENVER = zone("America/Denver")
LONDON = zone("Europe/London")


def local(text: str, tz=DENVER) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_last_second_of_a_month_and_the_first_of_the_next_are_in_different_months():
    last = local("2026-11-30T23:59:59")
    first = local("2026-12-01T00:00:00")

    # November 2026 starts on the day Denver falls back (MDT midnight) and ends in MST.
    assert period_bounds(last, DENVER, "month") == (
        utc("2026-11-01T06:00:00"),
        utc("2026-12-01T07:00:00"),
    )
    assert period_bounds(first, DENVER, "month") == (
        utc("2026-12-01T07:00:00"),
        utc("2027-01-01T07:00:00"),
    )
    assert period_label(period_bounds(last, DENVER, "month")[0], DENVER, "month") == "2026-11"
    assert period_label(period_bounds(first, DENVER, "month")[0], DENVER, "month") == "2026-12"


def test_a_week_runs_from_monday_so_sunday_night_and_monday_midnight_differ():
    sunday = local("2026-11-22T23:59:59")
    monday = local("2026-11-23T00:00:00")

    assert period_bounds(sunday, DENVER, "week") == (
        utc("2026-11-16T07:00:00"),
        utc("2026-11-23T07:00:00"),
    )
    assert period_bounds(monday, DENVER, "week")[0] == utc("2026-11-23T07:00:00")
    assert period_label(utc("2026-11-16T07:00:00"), DENVER, "week") == "2026-W47"
    assert period_label(utc("2026-11-23T07:00:00"), DENVER, "week") == "2026-W48"


def test_the_day_denver_springs_forward_is_23_hours_and_the_day_it_falls_back_25():
    start, end = period_bounds(local("2026-03-08T12:00"), DENVER, "day")
    assert (start, end) == (utc("2026-03-08T07:00:00"), utc("2026-03-09T06:00:00"))
    assert end - start == timedelta(hours=23)

    start, end = period_bounds(local("2026-11-01T12:00"), DENVER, "day")
    assert (start, end) == (utc("2026-11-01T06:00:00"), utc("2026-11-02T07:00:00"))
    assert end - start == timedelta(hours=25)
    # 01:30 happens twice that night; both are on November 1st.
    repeated = local("2026-11-01T01:30").replace(fold=1)
    assert period_bounds(repeated, DENVER, "day") == (start, end)


def test_london_days_around_its_dst_changes():
    start, end = period_bounds(local("2026-03-29T12:00", LONDON), LONDON, "day")
    assert (start, end) == (utc("2026-03-29T00:00:00"), utc("2026-03-29T23:00:00"))

    start, end = period_bounds(local("2026-10-25T12:00", LONDON), LONDON, "day")
    assert (start, end) == (utc("2026-10-24T23:00:00"), utc("2026-10-26T00:00:00"))
    assert end - start == timedelta(hours=25)


def test_a_year_ends_at_local_midnight_and_its_last_week_is_labelled_by_its_monday():
    last = local("2026-12-31T23:59:59")
    first = local("2027-01-01T00:00:00")

    assert period_bounds(last, DENVER, "year") == (
        utc("2026-01-01T07:00:00"),
        utc("2027-01-01T07:00:00"),
    )
    assert period_bounds(first, DENVER, "year")[0] == utc("2027-01-01T07:00:00")
    # The week holding New Year's Day 2027 began on Monday 2026-12-28: ISO week 2026-W53.
    week_start, _ = period_bounds(first, DENVER, "week")
    assert period_label(week_start, DENVER, "week") == "2026-W53"


def test_ever_has_no_bounds():
    assert period_bounds(local("2026-11-22T10:00"), DENVER, "ever") == (None, None)


@pytest.mark.parametrize(
    ("per", "labels"),
    [
        ("day", ["2026-02-27", "2026-02-28", "2026-03-01"]),
        ("week", ["2026-W07", "2026-W08", "2026-W09"]),  # 03-01 is a Sunday
        ("month", ["2026-01", "2026-02", "2026-03"]),
        ("year", ["2024", "2025", "2026"]),
        ("ever", ["ever"]),
    ],
)
def test_latest_periods_end_with_the_current_one_and_touch_each_other(per, labels):
    found = latest_periods(per, local("2026-03-01T08:00"), DENVER, 3)

    assert [p.label for p in found] == labels
    for before, after in zip(found, found[1:], strict=False):
        assert before.end == after.start
