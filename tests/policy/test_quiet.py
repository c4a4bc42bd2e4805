"""Quiet hours in a customer's own zone: across midnight, and across DST changes in three
zones (two northern, one southern)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from passcli.policy.quiet import QuietClock, quiet_until
from passcli.policy.spec import QuietHours
from passcli.timeutil import zone

NIGHT = QuietHours.model_validate({"start": "21:00", "end": "08:00"})
DENVER, BERLIN, SYDNEY = zone("America/Denver"), zone("Europe/Berlin"), zone("Australia/Sydney")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("wall", "expected_end"),
    [
        ("2026-12-07T20:59:59", None),  # a second before the start
        ("2026-12-07T21:00:00", "2026-12-08T08:00:00"),  # the start is inside
        ("2026-12-07T23:30:00", "2026-12-08T08:00:00"),  # before midnight: tomorrow's end
        ("2026-12-08T00:00:00", "2026-12-08T08:00:00"),  # midnight
        ("2026-12-08T07:59:59", "2026-12-08T08:00:00"),  # after midnight: today's end
        ("2026-12-08T08:00:00", None),  # the end is outside
        ("2026-12-08T12:00:00", None),
    ],
)
@pytest.mark.parametrize("tz", [DENVER, BERLIN, SYDNEY], ids=["denver", "berlin", "sydney"])
def test_quiet_hours_across_midnight_in_each_zone(wall, expected_end, tz):
    found = quiet_until(NIGHT, tz, local(wall, tz))
    assert found == (local(expected_end, tz) if expected_end else None)


def test_a_window_within_one_day():
    lunch = QuietHours.model_validate({"start": "12:00", "end": "13:30"})
    assert quiet_until(lunch, BERLIN, local("2026-12-08T11:59:00", BERLIN)) is None
    assert quiet_until(lunch, BERLIN, local("2026-12-08T12:45:00", BERLIN)) == local(
        "2026-12-08T13:30:00", BERLIN
    )
    assert quiet_until(lunch, BERLIN, local("2026-12-08T13:30:00", BERLIN)) is None


@pytest.mark.parametrize(
    ("tz", "night_before", "end_wall", "hours_held"),
    [
        # Spring forward: the night is an hour shorter (21:00 -> 08:00 is 10 h, not 11).
        (DENVER, "2026-03-07T21:00:00", "2026-03-08T08:00:00", 10),
        (BERLIN, "2026-03-28T21:00:00", "2026-03-29T08:00:00", 10),
        (SYDNEY, "2026-10-03T21:00:00", "2026-10-04T08:00:00", 10),
        # Fall back: an hour longer.
        (DENVER, "2026-10-31T21:00:00", "2026-11-01T08:00:00", 12),
        (BERLIN, "2026-10-24T21:00:00", "2026-10-25T08:00:00", 12),
        (SYDNEY, "2026-04-04T21:00:00", "2026-04-05T08:00:00", 12),
    ],
    ids=["denver-spring", "berlin-spring", "sydney-spring", "denver-fall", "berlin-fall",
         "sydney-fall"],
)  # fmt: skip
def test_quiet_hours_end_at_the_local_wall_time_across_dst(tz, night_before, end_wall, hours_held):
    start = local(night_before, tz)
    end = quiet_until(NIGHT, tz, start)
    assert end == local(end_wall, tz)
    assert (end - start).total_seconds() == hours_held * 3600


def test_an_end_inside_the_spring_forward_gap_moves_forward_by_the_gap():
    # Denver, 2026-03-08: 02:00 -> 03:00. An end of 02:30 does not exist that night.
    hours = QuietHours.model_validate({"start": "22:00", "end": "02:30"})
    end = quiet_until(hours, DENVER, local("2026-03-07T23:00:00", DENVER))
    assert end == utc("2026-03-08T09:30:00")  # 03:30 MDT


def test_an_end_inside_the_repeated_hour_takes_the_first():
    # Berlin, 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    hours = QuietHours.model_validate({"start": "22:00", "end": "02:30"})
    end = quiet_until(hours, BERLIN, local("2026-10-24T23:00:00", BERLIN))
    assert end == utc("2026-10-25T00:30:00")  # 02:30 CEST, the first


def test_the_clock_uses_the_customers_zone_or_the_fallback_and_its_channels():
    sms_only = QuietHours.model_validate({"start": "21:00", "end": "08:00", "channels": ["sms"]})
    clock = QuietClock(sms_only, DENVER)
    now = utc("2026-12-08T05:00:00")  # 22:00 in Denver, 06:00 in Berlin, 16:00 in Sydney
    assert clock.held_until(None, "sms", now) == local("2026-12-08T08:00:00", DENVER)
    assert clock.held_until("Europe/Berlin", "sms", now) == local("2026-12-08T08:00:00", BERLIN)
    assert clock.held_until("Australia/Sydney", "sms", now) is None
    assert clock.held_until("Not/AZone", "sms", now) == local("2026-12-08T08:00:00", DENVER)
    assert clock.held_until(None, "email", now) is None  # email is not quiet here
