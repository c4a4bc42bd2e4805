"""Each condition of SPEC §3 through the compiler against a real store, case by case.

Every case states its expected members by hand; `World.check` asserts that the reference
evaluator and all three compiled paths (listing query, membership test, correlated probe)
give exactly them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from passcli.errors import UsageError
from passcli.importing.load import import_file
from passcli.segments.compile import SegmentCompiler
from passcli.segments.spec import Problem, parse_segments

from .conftest import World, single

DENVER = ZoneInfo("America/Denver")
TOKYO = ZoneInfo("Asia/Tokyo")
SYDNEY = ZoneInfo("Australia/Sydney")
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
# Before 3.45, SQLite matched JSON paths against object keys' raw (escaped) text.
SQLITE_BEFORE_3_45 = sqlite3.sqlite_version_info < (3, 45)


def at(tz: ZoneInfo, text: str, fold: int = 0) -> datetime:
    """A wall-clock time in a zone (`fold=1`: the second of a repeated hour)."""
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold)


# The example data's instant: Sunday 2026-11-22 10:00 in Denver (17:00Z).
NOW = at(DENVER, "2026-11-22 10:00:00").astimezone(UTC)


def labels_where(table: dict[str, Any], wanted: Any) -> set[str]:
    """The labels of a table whose value satisfies `wanted` (a predicate)."""
    return {label for label, value in table.items() if value is not None and wanted(value)}


# -- days_since_purchase ------------------------------------------------------------------

# (zone, now, {label: (purchased_at, its calendar-day age by hand, None = after now)})
DAYS_SINCE = {
    "denver": (
        DENVER,
        NOW,
        {
            "d3-last-second": (at(DENVER, "2026-11-19 23:59:59"), 3),
            "d2-first-second": (at(DENVER, "2026-11-20 00:00:00"), 2),
            "d2-last-second": (at(DENVER, "2026-11-20 23:59:59"), 2),
            # 02:00Z on the 21st is still the 20th in Denver: a UTC date would say 1.
            "d2-utc-next-day": (datetime(2026, 11, 21, 2, 0, tzinfo=UTC), 2),
            "d1-first-second": (at(DENVER, "2026-11-21 00:00:00"), 1),
            "d0-midnight": (at(DENVER, "2026-11-22 00:00:00"), 0),
            "d0-exactly-now": (NOW, 0),
            "after-now": (NOW + SECOND, None),
        },
    ),
    "tokyo": (
        TOKYO,
        at(TOKYO, "2026-11-22 10:00"),
        {
            "t2-first-second": (at(TOKYO, "2026-11-20 00:00:00"), 2),
            "t1-first-second": (at(TOKYO, "2026-11-21 00:00:00"), 1),
            "t1-last-second": (at(TOKYO, "2026-11-21 23:59:59"), 1),
            # 15:00Z on the 21st is already the 22nd in Tokyo: a UTC date would say 1.
            "t0-midnight": (at(TOKYO, "2026-11-22 00:00:00"), 0),
            "t0-utc-previous-day": (datetime(2026, 11, 21, 20, 0, tzinfo=UTC), 0),
            "after-now": (at(TOKYO, "2026-11-22 10:00:01"), None),
        },
    ),
    "denver-spring-forward": (  # 2026-03-08 has 23 hours in Denver
        DENVER,
        at(DENVER, "2026-03-09 09:00"),
        {
            "s2-last-second": (at(DENVER, "2026-03-07 23:59:59"), 2),
            "s1-midnight-mst": (at(DENVER, "2026-03-08 00:00:00"), 1),
            "s1-after-the-gap": (at(DENVER, "2026-03-08 03:00:00"), 1),
            "s1-last-second-mdt": (at(DENVER, "2026-03-08 23:59:59"), 1),
            "s0-midnight-mdt": (at(DENVER, "2026-03-09 00:00:00"), 0),
        },
    ),
    "denver-on-the-dst-day": (
        DENVER,
        at(DENVER, "2026-03-08 12:00"),
        {
            "before-midnight": (at(DENVER, "2026-03-07 23:30:00"), 1),
            "after-midnight": (at(DENVER, "2026-03-08 00:30:00"), 0),
            "after-the-gap": (at(DENVER, "2026-03-08 03:00:00"), 0),
        },
    ),
    "denver-fall-back": (  # 2026-11-01 has 25 hours in Denver
        DENVER,
        at(DENVER, "2026-11-02 09:00"),
        {
            "f2-last-second-mdt": (at(DENVER, "2026-10-31 23:59:59"), 2),
            "f1-midnight-mdt": (at(DENVER, "2026-11-01 00:00:00"), 1),
            "f1-repeated-hour": (at(DENVER, "2026-11-01 01:30:00", fold=1), 1),
            "f1-last-second-mst": (at(DENVER, "2026-11-01 23:59:59"), 1),
            "f0-midnight": (at(DENVER, "2026-11-02 00:00:00"), 0),
        },
    ),
    "sydney-spring-forward": (  # 2026-10-04 has 23 hours in Sydney
        SYDNEY,
        at(SYDNEY, "2026-10-05 09:00"),
        {
            "y2-last-second-aest": (at(SYDNEY, "2026-10-03 23:59:59"), 2),
            "y1-midnight-aest": (at(SYDNEY, "2026-10-04 00:00:00"), 1),
            "y1-last-second-aedt": (at(SYDNEY, "2026-10-04 23:59:59"), 1),
            "y0-midnight-aedt": (at(SYDNEY, "2026-10-05 00:00:00"), 0),
        },
    ),
}

COMPARISONS_OF_DAYS = [
    # (comparison, predicate on the whole number of days)
    ({"exactly": 0}, lambda d: d == 0),
    ({"exactly": 1}, lambda d: d == 1),
    ({"exactly": 2}, lambda d: d == 2),
    ({"exactly": 3}, lambda d: d == 3),
    ({"exactly": 1.5}, lambda d: False),
    ({"less_than": 2}, lambda d: d < 2),
    ({"less_than": 1.5}, lambda d: d <= 1),
    ({"greater_than": 1}, lambda d: d > 1),
    ({"greater_than": 1.5}, lambda d: d >= 2),
    ({"at_least": 2}, lambda d: d >= 2),
    ({"at_least": 0}, lambda d: True),
    ({"at_most": 1}, lambda d: d <= 1),
    ({"at_most": 0.5}, lambda d: d == 0),
    ({"between": [1, 2]}, lambda d: 1 <= d <= 2),
    ({"between": [2, 2]}, lambda d: d == 2),
    ({"between": [0.5, 1.5]}, lambda d: d == 1),
    ({"less_than": 0}, lambda d: False),
]


@pytest.mark.parametrize("scenario", list(DAYS_SINCE))
@pytest.mark.parametrize(
    ("comparison", "wanted"),
    COMPARISONS_OF_DAYS,
    ids=[str(c) for c, _ in COMPARISONS_OF_DAYS],
)
def test_days_since_purchase_counts_calendar_days_in_the_zone(
    world: World, scenario: str, comparison: dict[str, Any], wanted: Any
) -> None:
    tz, now, table = DAYS_SINCE[scenario]
    for label, (bought, _) in table.items():
        world.purchase(label, "explorer-pass", bought)
    days = {label: age for label, (_, age) in table.items()}
    condition = {"purchase": {"item": "explorer-pass", "days_since_purchase": comparison}}
    world.check(single(condition), labels_where(days, wanted), now, tz)


# -- days_until_expiration -----------------------------------------------------------------

DAYS_UNTIL = {
    "denver": (
        DENVER,
        NOW,
        {
            "expires-exactly-now": (NOW, None),
            "e0-next-second": (NOW + SECOND, 0),
            "e0-last-second": (at(DENVER, "2026-11-22 23:59:59"), 0),
            "e1-midnight": (at(DENVER, "2026-11-23 00:00:00"), 1),
            # 05:00Z on the 24th is still the 23rd in Denver: a UTC date would say 2.
            "e1-utc-next-day": (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), 1),
            "e1-last-second": (at(DENVER, "2026-11-23 23:59:59"), 1),
            "e2-midnight": (at(DENVER, "2026-11-24 00:00:00"), 2),
            "e29": (at(DENVER, "2026-12-21 23:00:00"), 29),
            "e30": (at(DENVER, "2026-12-22 00:00:00"), 30),
            "expired-yesterday": (at(DENVER, "2026-11-21 12:00:00"), None),
        },
    ),
    "tokyo": (
        TOKYO,
        at(TOKYO, "2026-11-22 10:00"),
        {
            "k0-last-second": (at(TOKYO, "2026-11-22 23:59:59"), 0),
            # 15:00Z on the 22nd is the 23rd in Tokyo: a UTC date would say 0.
            "k1-midnight": (at(TOKYO, "2026-11-23 00:00:00"), 1),
            "k1-last-second": (at(TOKYO, "2026-11-23 23:59:59"), 1),
            "k2-midnight": (at(TOKYO, "2026-11-24 00:00:00"), 2),
        },
    ),
    "sydney-across-spring-forward": (
        SYDNEY,
        at(SYDNEY, "2026-10-03 12:00"),
        {
            "y0-last-second": (at(SYDNEY, "2026-10-03 23:59:59"), 0),
            "y1-midnight-aest": (at(SYDNEY, "2026-10-04 00:00:00"), 1),
            "y1-last-second-aedt": (at(SYDNEY, "2026-10-04 23:59:59"), 1),
            "y2-midnight-aedt": (at(SYDNEY, "2026-10-05 00:00:00"), 2),
        },
    ),
    "denver-across-spring-forward": (
        DENVER,
        at(DENVER, "2026-03-07 12:00"),
        {
            "m1-midnight-mst": (at(DENVER, "2026-03-08 00:00:00"), 1),
            "m1-last-second-mdt": (at(DENVER, "2026-03-08 23:59:59"), 1),
            "m2-midnight-mdt": (at(DENVER, "2026-03-09 00:00:00"), 2),
        },
    ),
}

COMPARISONS_OF_DAYS_UNTIL = [
    ({"exactly": 0}, lambda d: d == 0),
    ({"exactly": 1}, lambda d: d == 1),
    ({"exactly": 2}, lambda d: d == 2),
    ({"less_than": 30}, lambda d: d < 30),
    ({"less_than": 2}, lambda d: d < 2),
    ({"at_least": 30}, lambda d: d >= 30),
    ({"at_most": 0.5}, lambda d: d == 0),
    ({"greater_than": 28.5}, lambda d: d >= 29),
    ({"between": [1, 2]}, lambda d: 1 <= d <= 2),
    ({"less_than": 0}, lambda d: False),
    ({"at_least": -5}, lambda d: True),
]


@pytest.mark.parametrize("scenario", list(DAYS_UNTIL))
@pytest.mark.parametrize(
    ("comparison", "wanted"),
    COMPARISONS_OF_DAYS_UNTIL,
    ids=[str(c) for c, _ in COMPARISONS_OF_DAYS_UNTIL],
)
def test_days_until_expiration_counts_calendar_days_of_unexpired_passes(
    world: World, scenario: str, comparison: dict[str, Any], wanted: Any
) -> None:
    tz, now, table = DAYS_UNTIL[scenario]
    bought = now - 100 * DAY
    for label, (expires, _) in table.items():
        world.purchase(label, "explorer-pass", bought, expires_at=expires)
    # Never candidates: no expiry, not active, bought after now, another item.
    soon = now + 2 * DAY
    world.purchase("never-expires", "explorer-pass", bought)
    world.purchase("cancelled", "explorer-pass", bought, expires_at=soon, status="cancelled")
    world.purchase("refunded", "explorer-pass", bought, expires_at=soon, status="refunded")
    world.purchase("bought-after-now", "explorer-pass", now + SECOND, expires_at=soon)
    world.purchase("other-item", "brewery-pass", bought, expires_at=soon)
    days = {label: left for label, (_, left) in table.items()}
    condition = {"expiration": {"item": "explorer-pass", "days_until_expiration": comparison}}
    world.check(single(condition), labels_where(days, wanted), now, tz)


# -- purchase: status, item lists, channel ------------------------------------------------


@pytest.fixture
def purchases(world: World) -> World:
    bought = NOW - 30 * DAY
    world.purchase("active-open", "explorer-pass", bought, channel="online")
    world.purchase("active-future", "explorer-pass", bought, expires_at=NOW + 9 * DAY)
    world.purchase("expires-now", "explorer-pass", bought, expires_at=NOW, channel="app")
    world.purchase("expires-next-second", "explorer-pass", bought, expires_at=NOW + SECOND)
    world.purchase("expired-long-ago", "explorer-pass", bought, expires_at=NOW - 9 * DAY)
    world.purchase(
        "cancelled", "explorer-pass", bought, expires_at=NOW + 9 * DAY, status="cancelled"
    )
    world.purchase("refunded", "explorer-pass", bought, status="refunded", channel="online")
    world.purchase("bought-after-now", "explorer-pass", NOW + SECOND)
    world.purchase("brewery", "brewery-pass", bought)
    world.customer("nothing")
    return world


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "active"}, "active-open active-future expires-next-second"),
        ({"status": "expired"}, "expires-now expired-long-ago"),
        (
            {"status": "all"},
            "active-open active-future expires-now expires-next-second expired-long-ago "
            "cancelled refunded",
        ),
        (
            {},
            "active-open active-future expires-now expires-next-second expired-long-ago "
            "cancelled refunded",
        ),
        (
            {"when": "anytime", "status": "active"},
            "active-open active-future expires-next-second",
        ),
        ({"channel": "online"}, "active-open refunded"),
        ({"channel": "online", "status": "active"}, "active-open"),
        ({"channel": "app", "status": "expired"}, "expires-now"),
        ({"channel": "kiosk"}, ""),
    ],
    ids=[
        "active",
        "expired",
        "all",
        "default-all",
        "anytime",
        "channel",
        "channel-active",
        "channel-expired",
        "unknown-channel",
    ],
)
def test_purchase_status_means_active_expired_or_any_record(
    purchases: World, fields: dict[str, Any], expected: str
) -> None:
    condition = {"purchase": {"item": "explorer-pass", **fields}}
    purchases.check(single(condition), expected, NOW, DENVER)


def test_purchase_of_any_item_in_a_list(purchases: World) -> None:
    condition = {"purchase": {"item": ["brewery-pass", "explorer-pass"], "status": "active"}}
    purchases.check(
        single(condition), "active-open active-future expires-next-second brewery", NOW, DENVER
    )


def test_a_purchase_expiring_exactly_now_is_expired_and_not_active(world: World) -> None:
    world.purchase("c1", "explorer-pass", NOW - DAY, expires_at=NOW)
    active = {"purchase": {"item": "explorer-pass", "status": "active"}}
    expired = {"purchase": {"item": "explorer-pass", "status": "expired"}}
    world.check(single(active), set(), NOW, DENVER)
    world.check(single(expired), {"c1"}, NOW, DENVER)
    # One second earlier the same pass was still active.
    world.check(single(active), {"c1"}, NOW - SECOND, DENVER)
    world.check(single(expired), set(), NOW - SECOND, DENVER)


def test_purchases_after_now_do_not_count_until_now_reaches_them(world: World) -> None:
    world.purchase("c1", "explorer-pass", NOW)
    condition = {"purchase": {"item": "explorer-pass"}}
    world.check(single(condition), set(), NOW - SECOND, DENVER)
    world.check(single(condition), {"c1"}, NOW, DENVER)


# -- redemptions --------------------------------------------------------------------------


@pytest.fixture
def holders(world: World) -> World:
    bought = NOW - 100 * DAY
    for name in ("active-none", "active-two", "active-redeemed-after-now", "active-other-pass"):
        world.purchase(name, "explorer-pass", bought)
    world.redemption("active-two", "explorer-pass", NOW - 10 * DAY, location="zoo")
    world.redemption("active-two", "explorer-pass", NOW - 40 * DAY, location="museum")
    world.redemption("active-redeemed-after-now", "explorer-pass", NOW + SECOND)
    world.redemption("active-other-pass", "brewery-pass", NOW - DAY)
    world.purchase("expired-none", "explorer-pass", bought, expires_at=NOW - DAY)
    world.purchase("expired-one", "explorer-pass", bought, expires_at=NOW - DAY)
    world.redemption("expired-one", "explorer-pass", NOW - 50 * DAY, location="zoo")
    world.purchase("refunded-none", "explorer-pass", bought, status="refunded")
    world.redemption("not-a-holder", "explorer-pass", NOW - DAY)
    world.purchase("holder-after-now", "explorer-pass", NOW + SECOND)
    world.customer("nobody")
    return world


NO_REDEMPTION_ACTIVE = "active-none active-redeemed-after-now active-other-pass"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"pass_status": "active", "count": {"exactly": 0}}, NO_REDEMPTION_ACTIVE),
        ({"pass_status": "active", "count": {"at_most": 0.5}}, NO_REDEMPTION_ACTIVE),
        ({"pass_status": "active", "count": {"less_than": 1}}, NO_REDEMPTION_ACTIVE),
        (
            {"pass_status": "all", "count": {"exactly": 0}},
            f"{NO_REDEMPTION_ACTIVE} expired-none refunded-none",
        ),
        ({"pass_status": "expired", "count": {"exactly": 0}}, "expired-none"),
        ({"pass_status": "expired", "count": {"exactly": 1}}, "expired-one"),
        ({"pass_status": "all", "count": {"at_least": 1}}, "active-two expired-one"),
        ({"pass_status": "active"}, "active-two"),
        ({"pass_status": "active", "count": {"greater_than": 1}}, "active-two"),
        ({"pass_status": "active", "count": {"exactly": 2}}, "active-two"),
        ({"pass_status": "active", "count": {"between": [1, 3]}}, "active-two"),
        ({"pass_status": "active", "count": {"exactly": 1.5}}, ""),
        (
            {"pass_status": "all", "count": {"at_least": 0}},
            f"{NO_REDEMPTION_ACTIVE} active-two expired-none expired-one refunded-none",
        ),
        ({"pass_status": "all", "location": "zoo"}, "active-two expired-one"),
        ({"pass_status": "all", "location": ["museum", "garden"]}, "active-two"),
        (
            {"pass_status": "active", "location": "zoo", "count": {"exactly": 0}},
            NO_REDEMPTION_ACTIVE,
        ),
        (
            {"pass_status": "active", "within": {"days": 30}, "count": {"exactly": 1}},
            "active-two",
        ),
        (
            {"pass_status": "all", "within": {"days": 30}, "count": {"exactly": 0}},
            f"{NO_REDEMPTION_ACTIVE} expired-none expired-one refunded-none",
        ),
        (
            {
                "pass_status": "all",
                "within": {"from_days_ago": 60, "to_days_ago": 30},
                "count": {"at_least": 1},
            },
            "active-two expired-one",
        ),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_redemptions_count_only_for_holders_of_the_pass_with_that_status(
    holders: World, fields: dict[str, Any], expected: str
) -> None:
    condition = {"redemptions": {"pass": "explorer-pass", **fields}}
    holders.check(single(condition), expected, NOW, DENVER)


# -- points -------------------------------------------------------------------------------


@pytest.fixture
def points(world: World) -> World:
    bought = NOW - 100 * DAY
    world.purchase("zero", "explorer-pass", bought)
    world.purchase("p110", "explorer-pass", bought)
    world.redemption("p110", "explorer-pass", NOW - 10 * DAY, points=60)
    world.redemption("p110", "explorer-pass", NOW - 40 * DAY, points=50)
    world.purchase("expired-101", "explorer-pass", bought, expires_at=NOW - 50 * DAY)
    world.redemption("expired-101", "explorer-pass", NOW - 5 * DAY, points=101)
    world.purchase("refunded-30", "explorer-pass", bought, status="refunded")
    world.redemption("refunded-30", "explorer-pass", NOW - 5 * DAY, points=30)
    world.purchase("p100-and-later", "explorer-pass", bought)
    world.redemption("p100-and-later", "explorer-pass", NOW, points=100)
    world.redemption("p100-and-later", "explorer-pass", NOW + SECOND, points=50)
    world.redemption("not-a-holder", "explorer-pass", NOW - DAY, points=500)
    world.purchase("other-pass-points", "explorer-pass", bought)
    world.redemption("other-pass-points", "brewery-pass", NOW - DAY, points=500)
    return world


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"points": {"greater_than": 100}}, "p110 expired-101"),
        ({"points": {"at_least": 100}}, "p110 expired-101 p100-and-later"),
        ({"points": {"exactly": 0}}, "zero other-pass-points"),
        ({"points": {"less_than": 50}}, "zero other-pass-points refunded-30"),
        ({"points": {"between": [30, 100]}}, "refunded-30 p100-and-later"),
        ({"points": {"between": [30.5, 99.5]}}, ""),
        ({"points": {"greater_than": 100.5}}, "p110 expired-101"),
        (
            {"points": {"at_least": 60}, "within": {"days": 30}},
            "p110 expired-101 p100-and-later",
        ),
        ({"points": {"exactly": 50}, "within": {"from_days_ago": 45, "to_days_ago": 20}}, "p110"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_points_sum_redemptions_of_holders_of_any_status(
    points: World, fields: dict[str, Any], expected: str
) -> None:
    condition = {"points": {"pass": "explorer-pass", **fields}}
    points.check(single(condition), expected, NOW, DENVER)


# -- events: windows ------------------------------------------------------------------------


def event_times(world: World, table: dict[str, datetime]) -> None:
    for label, ts in table.items():
        world.event(label, "Order Completed", ts, revenue=10)
    world.customer("no-events")


WINDOWS = [
    (
        {"days": 90},
        {
            "exactly-now-minus-90-days": (NOW - 90 * DAY, False),
            "one-second-later": (NOW - 90 * DAY + SECOND, True),
            "exactly-now": (NOW, True),
            "one-second-after-now": (NOW + SECOND, False),
        },
    ),
    (
        # Across the fall-back change: 90 days of exactly 24 hours, not 90 calendar days.
        {"days": 30},
        {
            "exactly-now-minus-720-hours": (NOW - timedelta(hours=720), False),
            "one-second-later": (NOW - timedelta(hours=720) + SECOND, True),
            "wall-clock-30-days-ago-plus-30-min": (at(DENVER, "2026-10-23 10:30:00"), False),
        },
    ),
    (
        {"days": 0.5},
        {
            "twelve-hours-ago": (NOW - timedelta(hours=12), False),
            "almost-twelve-hours-ago": (NOW - timedelta(hours=12) + SECOND, True),
        },
    ),
    (
        {"from_days_ago": 30, "to_days_ago": 7},
        {
            "exactly-30-days-ago": (NOW - 30 * DAY, False),
            "one-second-later": (NOW - 30 * DAY + SECOND, True),
            "exactly-7-days-ago": (NOW - 7 * DAY, True),
            "one-second-after-7-days-ago": (NOW - 7 * DAY + SECOND, False),
            "now": (NOW, False),
        },
    ),
    (
        {"since": "2026-11-01", "until": "2026-11-20"},
        {
            "last-second-before": (at(DENVER, "2026-10-31 23:59:59"), False),
            "first-second": (at(DENVER, "2026-11-01 00:00:00"), True),
            "last-second": (at(DENVER, "2026-11-20 23:59:59"), True),
            # 03:00Z on the 21st is still the 20th in Denver.
            "utc-next-day": (datetime(2026, 11, 21, 3, 0, tzinfo=UTC), True),
            "next-day": (at(DENVER, "2026-11-21 00:00:00"), False),
        },
    ),
    (
        {"since": "2026-11-22", "until": "2026-11-22"},
        {
            "midnight-today": (at(DENVER, "2026-11-22 00:00:00"), True),
            "now": (NOW, True),
            "later-today": (NOW + SECOND, False),
            "yesterday": (at(DENVER, "2026-11-21 23:59:59"), False),
        },
    ),
    (
        {"since": "2026-11-21"},
        {
            "day-before": (at(DENVER, "2026-11-20 23:59:59"), False),
            "since-midnight": (at(DENVER, "2026-11-21 00:00:00"), True),
            "now": (NOW, True),
            "after-now": (NOW + SECOND, False),
        },
    ),
    (
        {"until": "2026-11-20"},
        {
            "long-ago": (at(DENVER, "2020-01-01 00:00:00"), True),
            "last-second": (at(DENVER, "2026-11-20 23:59:59"), True),
            "next-day": (at(DENVER, "2026-11-21 00:00:00"), False),
        },
    ),
]


@pytest.mark.parametrize(("within", "table"), WINDOWS, ids=[str(w) for w, _ in WINDOWS])
def test_event_windows_include_their_end_and_exclude_their_start(
    world: World, within: dict[str, Any], table: dict[str, tuple[datetime, bool]]
) -> None:
    event_times(world, {label: ts for label, (ts, _) in table.items()})
    inside = {label for label, (_, included) in table.items() if included}
    counted = {"event": {"name": "Order Completed", "within": within}}
    world.check(single(counted), inside, NOW, DENVER)
    none = {"event": {"name": "Order Completed", "within": within, "count": {"exactly": 0}}}
    world.check(single(none), (set(table) | {"no-events"}) - inside, NOW, DENVER)


def test_since_until_windows_are_local_days_of_the_zone_in_tokyo(world: World) -> None:
    now = at(TOKYO, "2026-11-22 10:00")
    event_times(
        world,
        {
            "before": at(TOKYO, "2026-11-20 23:59:59"),
            "first": at(TOKYO, "2026-11-21 00:00:00"),
            "last": at(TOKYO, "2026-11-21 23:59:59"),
            "after": at(TOKYO, "2026-11-22 00:00:00"),
        },
    )
    window = {"since": "2026-11-21", "until": "2026-11-21"}
    world.check(
        single({"event": {"name": "Order Completed", "within": window}}), "first last", now, TOKYO
    )


# -- events: counts -------------------------------------------------------------------------


@pytest.fixture
def counted(world: World) -> World:
    for label, times in {"one": 1, "two": 2, "three": 3}.items():
        for n in range(times):
            world.event(label, "Order Completed", NOW - (n + 1) * DAY, revenue=10)
    # Two events of the same instant and properties are two orders (distinct message ids).
    world.event("twin", "Order Completed", NOW - DAY, revenue=10)
    world.event("twin", "Order Completed", NOW - DAY, revenue=10)
    world.event("other-event", "Order Refunded", NOW - DAY)
    world.event("only-later", "Order Completed", NOW + SECOND)
    world.customer("none")
    return world


WITHOUT = "none other-event only-later"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (None, "one two three twin"),
        ({"exactly": 0}, WITHOUT),
        ({"exactly": 2}, "two twin"),
        ({"exactly": 2.5}, ""),
        ({"less_than": 2}, f"{WITHOUT} one"),
        ({"less_than": 2.5}, f"{WITHOUT} one two twin"),
        ({"greater_than": 2}, "three"),
        ({"greater_than": 1.5}, "two twin three"),
        ({"at_least": 2}, "two twin three"),
        ({"at_least": 0}, f"{WITHOUT} one two twin three"),
        ({"at_least": 0.5}, "one two twin three"),
        ({"at_most": 1}, f"{WITHOUT} one"),
        ({"at_most": 0}, WITHOUT),
        ({"between": [1, 2]}, "one two twin"),
        ({"between": [0, 1]}, f"{WITHOUT} one"),
        ({"between": [2.5, 3.5]}, "three"),
        ({"between": [1.2, 1.8]}, ""),
        ({"less_than": 0}, ""),
    ],
    ids=lambda value: str(value) if isinstance(value, dict | type(None)) else None,
)
def test_event_count_comparisons_include_customers_without_events_when_zero_meets_them(
    counted: World, count: dict[str, Any] | None, expected: str
) -> None:
    body: dict[str, Any] = {"name": "Order Completed"}
    if count is not None:
        body["count"] = count
    counted.check(single({"event": body}), expected, NOW, DENVER)


def test_an_event_imported_twice_counts_once(world: World, tmp_path: Path) -> None:
    lines = [
        {
            "type": "track",
            "userId": "c1",
            "event": "Order Completed",
            "properties": {"revenue": 100},
            "timestamp": "2026-11-20T10:00:00Z",
            "messageId": "m-1",
        },
        {  # no messageId: its id is derived from its content, so a repeat is skipped too
            "type": "track",
            "userId": "c1",
            "event": "Order Completed",
            "properties": {"revenue": 50},
            "timestamp": "2026-11-21T10:00:00Z",
        },
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines * 2), encoding="utf-8")
    import_file(world.engine, "events", path, tz=DENVER, region="US", now=NOW)
    import_file(world.engine, "events", path, tz=DENVER, region="US", now=NOW)
    twice = {"event": {"name": "Order Completed", "count": {"exactly": 2}}}
    world.check(single(twice), "c1", NOW, DENVER)
    total = {"event": {"name": "Order Completed", "sum": {"property": "revenue", "exactly": 150}}}
    world.check(single(total), "c1", NOW, DENVER)


# -- events: sum, avg, min, max -----------------------------------------------------------


@pytest.fixture
def revenue(world: World) -> World:
    world.customer("no-events")
    world.event("r100-r250", "Order Completed", NOW - 10 * DAY, revenue=100)
    world.event("r100-r250", "Order Completed", NOW - 60 * DAY, revenue=250)
    world.event("r40", "Order Completed", NOW - DAY, revenue=40, plan="gold")
    world.event("no-revenue-property", "Order Completed", NOW - DAY, items=3)
    # A revenue given as text is not a number: only the 10 counts.
    world.event("text-and-10", "Order Completed", NOW - DAY, revenue="300")
    world.event("text-and-10", "Order Completed", NOW - DAY, revenue=10, plan="gold")
    world.event("only-after-now", "Order Completed", NOW + SECOND, revenue=500)
    world.event("fractions", "Order Completed", NOW - DAY, revenue=0.5)
    world.event("fractions", "Order Completed", NOW - DAY, revenue=0.25)
    world.event("negative", "Order Completed", NOW - DAY, revenue=-20)
    world.event("other-event", "Order Refunded", NOW - DAY, revenue=1000)
    return world


SUM_ZERO = "no-events no-revenue-property only-after-now other-event"


@pytest.mark.parametrize(
    ("aggregate", "comparison", "extra", "expected"),
    [
        ("sum", {"greater_than": 300}, {}, "r100-r250"),
        ("sum", {"exactly": 350}, {}, "r100-r250"),
        ("sum", {"less_than": 50}, {}, f"{SUM_ZERO} r40 text-and-10 fractions negative"),
        ("sum", {"exactly": 0}, {}, SUM_ZERO),
        ("sum", {"at_least": 0}, {}, f"{SUM_ZERO} r100-r250 r40 text-and-10 fractions"),
        ("sum", {"between": [0.5, 1]}, {}, "fractions"),
        ("sum", {"exactly": 0.75}, {}, "fractions"),
        ("sum", {"at_most": -1}, {}, "negative"),
        ("sum", {"greater_than": 50}, {"within": {"days": 30}}, "r100-r250"),
        ("sum", {"exactly": 100}, {"within": {"days": 30}}, "r100-r250"),
        (
            "sum",
            {"at_least": 10},
            {"where": [{"property": "plan", "op": "equals", "value": "gold"}]},
            "r40 text-and-10",
        ),
        ("avg", {"less_than": 50}, {}, "r40 text-and-10 fractions negative"),
        ("avg", {"exactly": 175}, {}, "r100-r250"),
        ("avg", {"exactly": 0.375}, {}, "fractions"),
        ("avg", {"at_least": 0}, {}, "r100-r250 r40 text-and-10 fractions"),
        ("min", {"at_most": 10}, {}, "text-and-10 fractions negative"),
        ("min", {"exactly": 100}, {}, "r100-r250"),
        ("max", {"at_least": 250}, {}, "r100-r250"),
        ("max", {"less_than": 1}, {}, "fractions negative"),
        ("max", {"between": [40, 100]}, {"within": {"days": 30}}, "r100-r250 r40"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict | str) else None,
)
def test_event_aggregates_over_a_numeric_property(
    revenue: World, aggregate: str, comparison: dict[str, Any], extra: dict[str, Any], expected: str
) -> None:
    body = {"name": "Order Completed", aggregate: {"property": "revenue", **comparison}, **extra}
    revenue.check(single({"event": body}), expected, NOW, DENVER)


# -- events: where --------------------------------------------------------------------------


@pytest.fixture
def orders(world: World) -> World:
    when = NOW - DAY
    world.event("gold-120", "Order Completed", when, plan="gold", revenue=120)
    world.event(
        "silver-80-coupon", "Order Completed", when, plan="silver", revenue=80, coupon="FALL"
    )
    world.event("no-plan-200", "Order Completed", when, revenue=200)
    world.event("gold-member-20", "Order Completed", when, plan="gold member", revenue=20)
    world.event("vip", "Order Completed", when, vip=True)
    world.event("not-vip", "Order Completed", when, vip=False, plan="50% off_sale")
    world.event("null-plan", "Order Completed", when, plan=None)
    world.event("gold-refund", "Order Refunded", when, plan="gold")
    world.event("gold-later", "Order Completed", NOW + SECOND, plan="gold")
    world.customer("no-events")
    return world


ALL_ORDERS = {
    "gold-120",
    "silver-80-coupon",
    "no-plan-200",
    "gold-member-20",
    "vip",
    "not-vip",
    "null-plan",
}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([("plan", "equals", "gold")], {"gold-120"}),
        ([("plan", "not_equals", "gold")], ALL_ORDERS - {"gold-120"}),
        ([("plan", "contains", "gold")], {"gold-120", "gold-member-20"}),
        # % and _ are not wildcards
        ([("plan", "contains", "% off_")], {"not-vip"}),
        ([("plan", "contains", "50%sale")], set()),
        ([("plan", "contains", "of__sale")], set()),
        ([("plan", "exists", None)], {"gold-120", "silver-80-coupon", "gold-member-20", "not-vip"}),
        ([("coupon", "exists", None)], {"silver-80-coupon"}),
        ([("revenue", "greater_than", 100)], {"gold-120", "no-plan-200"}),
        ([("revenue", "greater_than", 119.5)], {"gold-120", "no-plan-200"}),
        ([("revenue", "less_than", 100)], {"silver-80-coupon", "gold-member-20"}),
        ([("revenue", "equals", 80)], {"silver-80-coupon"}),
        ([("revenue", "equals", 80.0)], {"silver-80-coupon"}),
        ([("revenue", "not_equals", 80)], ALL_ORDERS - {"silver-80-coupon"}),
        ([("vip", "equals", True)], {"vip"}),
        ([("vip", "equals", False)], {"not-vip"}),
        ([("vip", "not_equals", True)], ALL_ORDERS - {"vip"}),
        ([("vip", "exists", None)], {"vip", "not-vip"}),
        (
            [("plan", "contains", "gold"), ("revenue", "greater_than", 50)],
            {"gold-120"},
        ),
        ([("plan", "equals", "gold"), ("revenue", "less_than", 50)], set()),
    ],
    ids=lambda value: str(value) if isinstance(value, list) else None,
)
def test_event_where_filters_on_properties(
    orders: World, where: list[tuple[str, str, Any]], expected: set[str]
) -> None:
    filters = [
        {"property": p, "op": op} | ({} if value is None else {"value": value})
        for p, op, value in where
    ]
    body = {"name": "Order Completed", "where": filters}
    orders.check(single({"event": body}), expected, NOW, DENVER)
    # ... and their complement: no such event at all, including customers without events.
    none = {"event": {**body, "count": {"exactly": 0}}}
    everyone = ALL_ORDERS | {"gold-refund", "gold-later", "no-events"}
    orders.check(single(none), everyone - expected, NOW, DENVER)


# -- attributes and subscriptions ---------------------------------------------------------


@pytest.fixture
def people(world: World) -> World:
    world.customer(
        "ada",
        email="ada@example.com",
        phone="+13035550101",
        first_name="Ada",
        timezone="America/Denver",
        created_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        email_opt_in=True,
        sms_opt_in=True,
        attributes={"tier": "gold", "visits": 5, "vip": True, "city": "Denver"},
    )
    world.customer(
        "bo",
        email="bo@example.org",
        first_name="Bo",
        timezone="Asia/Tokyo",
        created_at=datetime(2026, 6, 1, 0, 0, tzinfo=UTC),
        attributes={"tier": "silver", "visits": 12.5, "vip": False, "city": None},
    )
    world.customer("cy", phone="+81312345678", sms_opt_in=True, email_opt_in=True)
    return world


@pytest.mark.parametrize(
    ("name", "op", "value", "expected"),
    [
        ("email", "equals", "ada@example.com", "ada"),
        ("email", "not_equals", "ada@example.com", "bo cy"),
        ("email", "in", ["ada@example.com", "bo@example.org", "x@example.net"], "ada bo"),
        ("email", "contains", "example.org", "bo"),
        ("email", "contains", "_", ""),
        ("email", "exists", None, "ada bo"),
        ("email", "not_exists", None, "cy"),
        ("phone", "exists", None, "ada cy"),
        ("first_name", "equals", "Bo", "bo"),
        ("timezone", "equals", "Asia/Tokyo", "bo"),
        ("timezone", "not_exists", None, "cy"),
        ("created_at", "greater_than", "2026-03-01T00:00:00Z", "bo"),
        ("created_at", "less_than", "2026-03-01T00:00:00+00:00", "ada"),
        ("created_at", "equals", "2026-01-05T09:00:00Z", "ada"),
        ("created_at", "equals", "2026-01-05T02:00:00", "ada"),  # read in the zone (-07:00)
        ("created_at", "exists", None, "ada bo"),
        ("created_at", "not_exists", None, "cy"),
        ("email_opt_in", "equals", True, "ada cy"),
        ("sms_opt_in", "equals", False, "bo"),
        ("id", "in", ["bo", "cy"], "bo cy"),
        ("tier", "equals", "gold", "ada"),
        ("tier", "not_equals", "gold", "bo cy"),
        ("tier", "in", ["gold", "silver"], "ada bo"),
        ("tier", "contains", "ilv", "bo"),
        ("tier", "exists", None, "ada bo"),
        ("tier", "not_exists", None, "cy"),
        ("visits", "greater_than", 10, "bo"),
        ("visits", "less_than", 12.5, "ada"),
        ("visits", "equals", 12.5, "bo"),
        ("visits", "equals", 5, "ada"),
        ("visits", "not_equals", 5, "bo cy"),
        ("vip", "equals", True, "ada"),
        ("vip", "equals", False, "bo"),
        ("city", "exists", None, "ada"),  # JSON null counts as missing
        ("city", "not_exists", None, "bo cy"),
        ("no-such-attribute", "not_equals", "x", "ada bo cy"),
        ("no-such-attribute", "exists", None, ""),
    ],
    ids=lambda value: str(value) if not isinstance(value, list) else "list",
)
def test_attribute_conditions_on_built_in_fields_and_custom_attributes(
    people: World, name: str, op: str, value: Any, expected: str
) -> None:
    body: dict[str, Any] = {"name": name, "op": op}
    if value is not None:
        body["value"] = value
    people.check(single({"attribute": body}), expected, NOW, DENVER)


def test_subscribed_needs_an_address_and_an_opt_in(world: World) -> None:
    world.customer(
        "both", email="a@x.com", phone="+13035550101", email_opt_in=True, sms_opt_in=True
    )
    world.customer("email-opted-in-no-address", email_opt_in=True, sms_opt_in=True)
    world.customer("email-opted-out", email="b@x.com", phone="+13035550102")
    world.customer("sms-only", email="c@x.com", phone="+13035550103", sms_opt_in=True)
    world.check(single({"subscribed": {"channel": "email"}}), "both", NOW, DENVER)
    world.check(single({"subscribed": {"channel": "sms"}}), "both sms-only", NOW, DENVER)
    world.check(
        single({"not": {"subscribed": {"channel": "email"}}}),
        "email-opted-in-no-address email-opted-out sms-only",
        NOW,
        DENVER,
    )


# -- segment references, nesting and match -------------------------------------------------


@pytest.fixture
def shapes(world: World) -> World:
    """One customer per combination of owning items x, y and z (named by what they own)."""
    for name in ("none", "x", "y", "z", "xy", "xz", "yz", "xyz"):
        world.customer(name)
        for item in name.replace("none", ""):
            world.purchase(name, item, NOW - DAY)
    return world


def has(item: str) -> dict[str, Any]:
    return {"purchase": {"item": item}}


EVERYONE = {"none", "x", "y", "z", "xy", "xz", "yz", "xyz"}


def owning(rule: Any) -> set[str]:
    return {name for name in EVERYONE if rule(set(name) - set("none"))}


@pytest.mark.parametrize(
    ("conditions", "match", "expected"),
    [
        ([has("x"), has("y")], "all", owning(lambda s: {"x", "y"} <= s)),
        ([has("x"), has("y")], "any", owning(lambda s: bool({"x", "y"} & s))),
        ([{"not": has("x")}], "all", owning(lambda s: "x" not in s)),
        ([{"not": {"not": has("x")}}], "all", owning(lambda s: "x" in s)),
        ([{"not": {"all": [has("x"), has("y")]}}], "all", owning(lambda s: not {"x", "y"} <= s)),
        ([{"not": {"any": [has("x"), has("y")]}}], "all", owning(lambda s: not {"x", "y"} & s)),
        ([has("z"), {"not": has("x")}], "all", owning(lambda s: "z" in s and "x" not in s)),
        ([has("z"), {"not": has("x")}], "any", owning(lambda s: "z" in s or "x" not in s)),
        (
            [{"any": [{"all": [has("x"), {"not": has("y")}]}, has("z")]}],
            "all",
            owning(lambda s: ("x" in s and "y" not in s) or "z" in s),
        ),
        (
            [{"all": [{"any": [has("x"), has("y")]}, {"not": {"any": [has("z")]}}]}],
            "all",
            owning(lambda s: bool({"x", "y"} & s) and "z" not in s),
        ),
        (
            [{"not": {"all": [{"any": [has("x"), {"not": has("z")}]}, has("y")]}}],
            "all",
            owning(lambda s: not (("x" in s or "z" not in s) and "y" in s)),
        ),
        ([{"any": [has("x")]}, {"all": [has("y")]}], "all", owning(lambda s: {"x", "y"} <= s)),
    ],
    ids=[
        "all",
        "any",
        "not",
        "not-not",
        "not-all",
        "not-any",
        "all-with-not",
        "any-with-not",
        "any-of-all-with-not",
        "all-of-any-and-not-any",
        "not-all-of-any-with-not",
        "single-child-groups",
    ],
)
def test_nested_all_any_not_combine_like_boolean_logic(
    shapes: World, conditions: list[Any], match: str, expected: set[str]
) -> None:
    shapes.check(single(*conditions, match=match), expected, NOW, DENVER)


def test_segment_references_evaluate_the_other_segment(shapes: World) -> None:
    specs = single(
        {"segment": "owns-x-or-y"},
        {"not": {"segment": "owns-z"}},
        owns_x_or_y={"match": "any", "conditions": [has("x"), has("y")]},
        owns_z=[{"segment": "owns-z-really"}],
        owns_z_really=[has("z")],
    )
    shapes.check(specs, owning(lambda s: bool({"x", "y"} & s) and "z" not in s), NOW, DENVER)
    shapes.check(specs, owning(lambda s: "z" in s), NOW, DENVER, name="owns-z")


def test_a_segment_referring_to_itself_is_refused_by_the_compiler(shapes: World) -> None:
    specs = single({"segment": "b"}, b=[{"segment": "s"}])
    with pytest.raises(UsageError, match="refers to itself"):
        SegmentCompiler(specs, NOW, DENVER).query("s")


# -- product bugs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inner",
    [
        {"attribute": {"name": "email", "op": "equals", "value": "ada@example.com"}},
        {"attribute": {"name": "email", "op": "contains", "value": "ada"}},
        {"attribute": {"name": "email", "op": "in", "value": ["ada@example.com"]}},
        {"attribute": {"name": "created_at", "op": "less_than", "value": "2026-03-01T00:00:00Z"}},
        {"attribute": {"name": "tier", "op": "equals", "value": "gold"}},
        {"attribute": {"name": "visits", "op": "less_than", "value": 10}},
    ],
    ids=[
        "email-equals",
        "email-contains",
        "email-in",
        "created-at",
        "custom-text",
        "custom-number",
    ],
)
def test_not_includes_customers_whose_field_is_empty(people: World, inner: dict[str, Any]) -> None:
    people.check(single({"not": inner}), "bo cy", NOW, DENVER)


@pytest.mark.parametrize("aggregate", ["avg", "min", "max"])
def test_not_of_an_absent_average_includes_customers_without_values(
    revenue: World, aggregate: str
) -> None:
    inner = {
        "event": {"name": "Order Completed", aggregate: {"property": "revenue", "at_least": 0}}
    }
    revenue.check(
        single({"not": inner}),
        "no-events no-revenue-property only-after-now other-event negative",
        NOW,
        DENVER,
    )


def test_contains_ignores_case_on_every_backend(orders: World) -> None:
    body = {
        "name": "Order Completed",
        "where": [{"property": "plan", "op": "contains", "value": "GOLD"}],
    }
    orders.check(single({"event": body}), {"gold-120", "gold-member-20"}, NOW, DENVER)


def test_a_number_comparison_ignores_text_attributes(people: World) -> None:
    people.check(
        single({"attribute": {"name": "tier", "op": "less_than", "value": 5}}), "", NOW, DENVER
    )


def test_created_at_equals_a_date_matches_that_local_day(people: World) -> None:
    condition = {"attribute": {"name": "created_at", "op": "equals", "value": date(2026, 1, 5)}}
    people.check(single(condition), "ada", NOW, DENVER)


def test_a_huge_day_count_matches_every_purchase(world: World) -> None:
    world.purchase("c1", "explorer-pass", NOW - DAY)
    condition = {"purchase": {"item": "explorer-pass", "days_since_purchase": {"at_most": 1e6}}}
    world.check(single(condition), "c1", NOW, DENVER)


@pytest.mark.parametrize("kind", ["attribute", "event-property"])
def test_a_non_ascii_attribute_or_property_name_is_found(world: World, kind: str) -> None:
    world.customer("c1", attributes={"città": "Roma"})
    world.customer("c2", attributes={"città": "Milano"})
    world.event("c1", "Visited", NOW - DAY, città="Roma")
    world.event("c2", "Visited", NOW - DAY, città="Milano")
    condition: dict[str, Any] = {"attribute": {"name": "città", "op": "equals", "value": "Roma"}}
    if kind == "event-property":
        where = [{"property": "città", "op": "equals", "value": "Roma"}]
        condition = {"event": {"name": "Visited", "where": where}}
    world.check(single(condition), "c1", NOW, DENVER)


def test_in_an_empty_list_is_a_validation_error() -> None:
    problems: list[Problem] = []
    document = {
        "segments": {
            "s": {"conditions": [{"attribute": {"name": "tier", "op": "in", "value": []}}]}
        }
    }
    assert parse_segments(document, problems) == {}
    assert [p.message for p in problems] == ["attribute: op in needs a non-empty list of values"]
