"""Schedule arithmetic (SPEC §4 `schedule`): pure, no store, no clock.

`every` in minutes or hours is an exact duration; in days or weeks it keeps the wall-clock
time across DST changes; a wall time in a spring-forward gap moves forward by the gap, a
repeated one (fall back) takes the first. The hypothesis tests compare `due`, `between` and
`upcoming` with a brute-force enumeration over an independent wall-time resolver.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passcli.messages.spec import Schedule
from passcli.scheduling.occurrences import Occurrences, Slot, resolve

from .conftest import wall_instant

DENVER = ZoneInfo("America/Denver")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")


def schedule(**fields: Any) -> Schedule:
    return Schedule.model_validate(fields)


def utc(text: str) -> datetime:
    """`2026-03-08T09:30` read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def instants(occ: Occurrences, after: datetime, until: datetime) -> list[datetime]:
    return [occ.instant_of(slot.index) for slot in occ.between(after, until)]


# -- one-time ---------------------------------------------------------------------------------


def test_one_time_at_is_due_from_its_instant_and_stays_the_only_occurrence() -> None:
    occ = Occurrences(schedule(at="2026-12-01 10:00"), DENVER)

    assert occ.due(utc("2026-12-01T16:59:59")) is None
    first = Slot(0, datetime(2026, 12, 1, 10, 0), "2026-12-01T17:00:00Z")
    assert occ.due(utc("2026-12-01T17:00")) == first
    assert occ.due(utc("2027-06-01T00:00")) == first
    assert occ.instant_of(0) == utc("2026-12-01T17:00")
    assert occ.upcoming(utc("2026-11-01T00:00"), 5) == [first]
    assert occ.upcoming(utc("2026-12-01T17:00"), 5) == []
    assert list(occ.between(utc("2026-01-01T00:00"), utc("2027-01-01T00:00"))) == [first]


def test_one_time_local_time_is_labelled_by_its_wall_time_and_due_per_zone() -> None:
    occ = Occurrences(schedule(at="2026-12-01 10:00", local_time=True), DENVER)

    assert occ.slot(0).label == "2026-12-01T10:00"
    assert occ.instant_of(0, SYDNEY) == utc("2026-11-30T23:00")  # AEDT, +11
    assert occ.instant_of(0, BERLIN) == utc("2026-12-01T09:00")  # CET, +1
    assert occ.due(utc("2026-11-30T23:00"), SYDNEY) == occ.slot(0)
    assert occ.due(utc("2026-11-30T23:00"), DENVER) is None


# -- exact durations --------------------------------------------------------------------------


def test_every_thirty_minutes_is_exact_across_the_spring_forward_gap() -> None:
    # 01:00 MST is 08:00Z; at 02:00 MST the clocks jump to 03:00 MDT (09:00Z).
    occ = Occurrences(schedule(every="30 minutes", start="2026-03-08 01:00"), DENVER)

    got = instants(occ, utc("2026-03-08T07:00"), utc("2026-03-08T10:00"))

    assert got == [utc(f"2026-03-08T{h}") for h in ("08:00", "08:30", "09:00", "09:30", "10:00")]
    walls = [occ.wall_of(i) for i in range(5)]
    assert [w.strftime("%H:%M") for w in walls] == ["01:00", "01:30", "03:00", "03:30", "04:00"]


def test_every_hour_is_exact_across_the_fall_back_repeat_and_labels_utc() -> None:
    # 00:00 MDT is 06:00Z; 01:00-02:00 happens twice (MDT, then MST).
    occ = Occurrences(schedule(every="1 hour", start="2026-11-01 00:00"), DENVER)

    slots = list(occ.between(utc("2026-11-01T05:00"), utc("2026-11-01T10:00")))

    assert [s.label for s in slots] == [
        "2026-11-01T06:00:00Z",
        "2026-11-01T07:00:00Z",
        "2026-11-01T08:00:00Z",
        "2026-11-01T09:00:00Z",
        "2026-11-01T10:00:00Z",
    ]
    assert [s.wall.strftime("%H:%M") for s in slots] == [
        "00:00",
        "01:00",
        "01:00",
        "02:00",
        "03:00",
    ]


def test_every_five_hours_in_utc_has_no_drift_over_a_year() -> None:
    occ = Occurrences(schedule(every="5 hours", start="2026-01-01 00:00"), ZoneInfo("UTC"))

    assert occ.instant_of(1752) == utc("2026-01-01T00:00") + timedelta(hours=5 * 1752)
    assert occ.due(utc("2027-01-01T00:00")) == occ.slot(1752)  # 8760 h / 5 = 1752


# -- wall-clock recurrences across DST --------------------------------------------------------

# (zone, the day of the change, 09:00 local in UTC the day before, 09:00 local on the day)
DST_CHANGES = [
    pytest.param(DENVER, "2026-03-08", "2026-03-07T16:00", "2026-03-08T15:00", id="denver-spring"),
    pytest.param(DENVER, "2026-11-01", "2026-10-31T15:00", "2026-11-01T16:00", id="denver-fall"),
    pytest.param(BERLIN, "2026-03-29", "2026-03-28T08:00", "2026-03-29T07:00", id="berlin-spring"),
    pytest.param(BERLIN, "2026-10-25", "2026-10-24T07:00", "2026-10-25T08:00", id="berlin-fall"),
    pytest.param(SYDNEY, "2026-04-05", "2026-04-03T22:00", "2026-04-04T23:00", id="sydney-fall"),
    pytest.param(SYDNEY, "2026-10-04", "2026-10-02T23:00", "2026-10-03T22:00", id="sydney-spring"),
]


@pytest.mark.parametrize(("tz", "day", "before", "after"), DST_CHANGES)
def test_daily_keeps_nine_oclock_wall_time_across_the_dst_change(
    tz: tzinfo, day: str, before: str, after: str
) -> None:
    change = datetime.fromisoformat(day)
    start = (change - timedelta(days=1)).replace(hour=9)
    occ = Occurrences(schedule(every="1 day", start=start.isoformat(sep=" ")), tz)

    assert occ.instant_of(0) == utc(before)
    assert occ.instant_of(1) == utc(after)
    assert occ.instant_of(2) == utc(after) + timedelta(days=1)
    for index in range(5):
        local = occ.instant_of(index).astimezone(tz)
        assert (local.date(), local.hour, local.minute) == (
            (change + timedelta(days=index - 1)).date(),
            9,
            0,
        )


@pytest.mark.parametrize(("tz", "day", "before", "after"), DST_CHANGES)
def test_weekly_keeps_wall_time_across_the_dst_change(
    tz: tzinfo, day: str, before: str, after: str
) -> None:
    change = datetime.fromisoformat(day)
    start = (change - timedelta(days=7)).replace(hour=9)
    occ = Occurrences(schedule(every="1 week", start=start.isoformat(sep=" ")), tz)

    assert occ.instant_of(1) == utc(after)
    assert occ.instant_of(1) - occ.instant_of(0) != timedelta(weeks=1)  # the DST hour
    assert occ.instant_of(1).astimezone(tz).strftime("%Y-%m-%d %H:%M") == f"{day} 09:00"


# (zone, wall time that does not exist, where it lands in UTC = forward by the gap)
GAPS = [
    pytest.param(DENVER, "2026-03-08 02:30", "2026-03-08T09:30", "03:30", id="denver"),
    pytest.param(BERLIN, "2026-03-29 02:30", "2026-03-29T01:30", "03:30", id="berlin"),
    pytest.param(SYDNEY, "2026-10-04 02:30", "2026-10-03T16:30", "03:30", id="sydney"),
]


@pytest.mark.parametrize(("tz", "wall", "expected", "local"), GAPS)
def test_wall_time_in_a_gap_moves_forward_by_the_gap(
    tz: tzinfo, wall: str, expected: str, local: str
) -> None:
    assert resolve(datetime.fromisoformat(wall), tz) == utc(expected)
    day_before = datetime.fromisoformat(wall) - timedelta(days=1)
    occ = Occurrences(schedule(every="1 day", start=day_before.isoformat(sep=" ")), tz)
    assert occ.instant_of(1) == utc(expected)
    assert occ.instant_of(1).astimezone(tz).strftime("%H:%M") == local
    assert occ.instant_of(2).astimezone(tz).strftime("%H:%M") == "02:30"  # back the day after


# (zone, wall time that happens twice, its first occurrence in UTC)
REPEATS = [
    pytest.param(DENVER, "2026-11-01 01:30", "2026-11-01T07:30", id="denver"),
    pytest.param(BERLIN, "2026-10-25 02:30", "2026-10-25T00:30", id="berlin"),
    pytest.param(SYDNEY, "2026-04-05 02:30", "2026-04-04T15:30", id="sydney"),
]


@pytest.mark.parametrize(("tz", "wall", "first"), REPEATS)
def test_repeated_wall_time_takes_the_first(tz: tzinfo, wall: str, first: str) -> None:
    assert resolve(datetime.fromisoformat(wall), tz) == utc(first)
    occ = Occurrences(schedule(at=wall), tz)
    assert occ.due(utc(first) - timedelta(seconds=1)) is None
    assert occ.due(utc(first)) == occ.slot(0)


def test_local_time_daily_is_due_at_the_wall_time_in_each_customers_zone_across_their_dst() -> None:
    # 02:30 every day, local time: Sydney falls back on 2026-04-05 (02:30 happens twice),
    # Berlin springs forward on 2026-03-29 (02:30 does not exist).
    occ = Occurrences(schedule(every="1 day", start="2026-03-28 02:30", local_time=True), DENVER)

    assert [occ.slot(i).label for i in (0, 1, 8)] == [
        "2026-03-28T02:30",
        "2026-03-29T02:30",
        "2026-04-05T02:30",
    ]
    assert occ.instant_of(1, BERLIN) == utc("2026-03-29T01:30")  # 03:30 CEST
    assert occ.instant_of(8, SYDNEY) == utc("2026-04-04T15:30")  # the first 02:30, AEDT
    assert occ.instant_of(9, SYDNEY) == utc("2026-04-05T16:30")  # 02:30 AEST
    assert occ.due(utc("2026-04-04T15:30"), SYDNEY) == occ.slot(8)
    assert occ.due(utc("2026-04-04T15:29"), SYDNEY) == occ.slot(7)


# -- counts, windows, labels ------------------------------------------------------------------


def test_resends_give_r_plus_one_occurrences_and_none_after() -> None:
    occ = Occurrences(schedule(every="1 day", start="2026-11-01 09:00", resends=3), DENVER)

    every = list(occ.between(utc("2026-10-01T00:00"), utc("2027-12-31T00:00")))

    assert [s.index for s in every] == [0, 1, 2, 3]
    assert [s.label for s in every][-1] == "2026-11-04T16:00:00Z"
    assert occ.due(utc("2027-06-01T00:00")) == every[-1]
    assert occ.upcoming(utc("2026-11-03T00:00"), 10) == every[2:]
    assert occ.upcoming(utc("2026-11-04T16:00"), 10) == []


def test_zero_resends_is_a_single_occurrence() -> None:
    occ = Occurrences(schedule(every="1 hour", start="2026-11-01 09:00", resends=0), DENVER)

    assert occ.upcoming(utc("2026-01-01T00:00"), 3) == [occ.slot(0)]
    assert occ.due(utc("2026-11-02T00:00")) == occ.slot(0)


def test_between_excludes_after_and_includes_until() -> None:
    occ = Occurrences(schedule(every="1 day", start="2026-11-20 09:00"), DENVER)
    nine = [utc(f"2026-11-{d}T16:00") for d in (20, 21, 22, 23)]

    assert instants(occ, nine[0], nine[2]) == nine[1:3]
    assert instants(occ, nine[0] - timedelta(seconds=1), nine[0]) == nine[:1]
    assert instants(occ, nine[1], nine[1]) == []
    assert instants(occ, utc("2026-01-01T00:00"), nine[0] - timedelta(seconds=1)) == []


def test_upcoming_lists_the_next_occurrences_strictly_after_now() -> None:
    occ = Occurrences(schedule(every="1 week", start="2026-10-18 09:00"), DENVER)

    coming = occ.upcoming(utc("2026-10-25T15:00"), 3)  # exactly the second occurrence

    assert [s.label for s in coming] == [
        "2026-11-01T16:00:00Z",  # MST from 2026-11-01
        "2026-11-08T16:00:00Z",
        "2026-11-15T16:00:00Z",
    ]
    assert [s.index for s in coming] == [2, 3, 4]


def test_local_time_labels_are_wall_times_without_offset() -> None:
    occ = Occurrences(schedule(every="1 day", start="2026-11-20 09:00", local_time=True), DENVER)

    labels = [s.label for s in occ.upcoming(utc("2026-11-01T00:00"), 3)]

    assert labels == ["2026-11-20T09:00", "2026-11-21T09:00", "2026-11-22T09:00"]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", label) for label in labels)


def test_start_before_now_without_resends_never_ends() -> None:
    occ = Occurrences(schedule(every="1 day", start="2026-01-01 09:00"), BERLIN)

    assert occ.due(utc("2036-01-01T12:00")) == occ.slot(3652)
    assert occ.slot(3652).label == "2036-01-01T08:00:00Z"


# -- differential: due / between / upcoming against brute force -------------------------------

ZONES = [
    "UTC",
    "America/Denver",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns",  # a -03:30 offset with DST
    "Asia/Kolkata",  # no DST
]
UNIT_SECONDS = {"minute": 60, "hour": 3600}
UNIT_DAYS = {"day": 1, "week": 7}


def brute_force(
    spec: dict[str, Any], tz: tzinfo, due_tz: tzinfo, until: datetime
) -> list[tuple[datetime, str]]:
    """Every occurrence (instant, label) due at or before `until`, by enumeration."""
    if "at" in spec:
        walls = [datetime.fromisoformat(spec["at"])]
        step = None
    else:
        start = datetime.fromisoformat(spec["start"])
        count, unit = spec["every"].split()
        count_ = int(count)
        unit = unit.rstrip("s")
        walls = []
        step = (count_, unit)
    result: list[tuple[datetime, str]] = []
    index = 0
    while True:
        if step is None:
            if index == 1:
                break
            wall = walls[0]
            instant = wall_instant(wall, due_tz)
        else:
            if spec.get("resends") is not None and index > spec["resends"]:
                break
            count_, unit = step
            if unit in UNIT_DAYS:
                wall = start + timedelta(days=count_ * UNIT_DAYS[unit] * index)
                instant = wall_instant(wall, due_tz)
            else:
                instant = wall_instant(start, tz) + timedelta(
                    seconds=count_ * UNIT_SECONDS[unit] * index
                )
                wall = instant.astimezone(tz).replace(tzinfo=None)
        if instant > until:
            break
        label = (
            wall.strftime("%Y-%m-%dT%H:%M")
            if spec.get("local_time")
            else instant.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        result.append((instant, label))
        index += 1
    return result


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    day = draw(
        st.dates(min_value=datetime(2026, 1, 1).date(), max_value=datetime(2027, 12, 31).date())
    )
    # Night hours often: that is where DST changes happen.
    hour = draw(st.one_of(st.integers(0, 4), st.integers(0, 23)))
    minute = draw(st.sampled_from([0, 15, 30, 45, 7]))
    wall = datetime(day.year, day.month, day.day, hour, minute).isoformat(sep=" ")
    local_time = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:
        return {"at": wall, "local_time": local_time}
    unit = draw(st.sampled_from(["minute", "hour", "day", "week"]))
    count = draw(
        {
            "minute": st.integers(15, 240),
            "hour": st.integers(1, 48),
            "day": st.integers(1, 10),
            "week": st.integers(1, 4),
        }[unit]
    )
    spec: dict[str, Any] = {"every": f"{count} {unit}s", "start": wall}
    if draw(st.booleans()):
        spec["resends"] = draw(st.integers(0, 400))
    if unit in UNIT_DAYS:  # local time with exact durations is not a customer-facing case
        spec["local_time"] = local_time
    return spec


@settings(max_examples=300, deadline=None)
@given(
    spec=schedules(),
    zone_name=st.sampled_from(ZONES),
    customer_zone=st.sampled_from(ZONES),
    offset_minutes=st.integers(-3 * 1440, 75 * 1440),
)
def test_due_is_the_last_occurrence_at_or_before_now(
    spec: dict[str, Any], zone_name: str, customer_zone: str, offset_minutes: int
) -> None:
    tz = ZoneInfo(zone_name)
    occ = Occurrences(schedule(**spec), tz)
    anchor = datetime.fromisoformat(spec.get("at") or spec["start"]).replace(tzinfo=UTC)
    now = anchor + timedelta(minutes=offset_minutes)
    due_tz = ZoneInfo(customer_zone) if spec.get("local_time") else tz

    expected = brute_force(spec, tz, due_tz, now)
    slot = occ.due(now, due_tz if spec.get("local_time") else None)

    if not expected:
        assert slot is None
    else:
        assert slot is not None
        assert (slot.index, slot.label) == (len(expected) - 1, expected[-1][1])
        assert (
            occ.instant_of(slot.index, due_tz if spec.get("local_time") else None)
            == (expected[-1][0])
        )


@settings(max_examples=150, deadline=None)
@given(
    spec=schedules(),
    zone_name=st.sampled_from(ZONES),
    after_minutes=st.integers(-2 * 1440, 40 * 1440),
    width_minutes=st.integers(0, 20 * 1440),
    count=st.integers(1, 6),
)
def test_between_and_upcoming_match_enumeration(
    spec: dict[str, Any], zone_name: str, after_minutes: int, width_minutes: int, count: int
) -> None:
    tz = ZoneInfo(zone_name)
    occ = Occurrences(schedule(**spec), tz)
    anchor = datetime.fromisoformat(spec.get("at") or spec["start"]).replace(tzinfo=UTC)
    after = anchor + timedelta(minutes=after_minutes)
    until = after + timedelta(minutes=width_minutes)

    horizon = until + timedelta(days=7 * 4 * (count + 1) + 2)  # past `count` more of any
    everything = brute_force(spec, tz, tz, horizon)
    inside = [label for instant, label in everything if after < instant <= until]
    coming = [label for instant, label in everything if instant > after][:count]

    assert [s.label for s in occ.between(after, until)] == inside
    assert [s.label for s in occ.upcoming(after, count)] == coming
