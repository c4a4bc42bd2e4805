"""The `offer` condition (SPEC §3, §9): a customer's uses of an offer (attendees summed),
over all time or a window, meet a comparison. Comparisons that 0 meets include customers who
never used the offer. Every case is checked through the three compiled paths (listing query,
membership test, correlated probe) and against a small Python model of the condition."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from passcli.segments.spec import Problem, parse_segments
from passcli.segments.validate import check_segments
from passcli.store import write_transaction
from passcli.store.schema import offer_uses

from .conftest import Members, World, compiled_members, single

DENVER = ZoneInfo("America/Denver")
NOW = datetime(2026, 11, 22, 10, tzinfo=DENVER)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

# (customer, offer, attendees, used_at)
USES = [
    ("once", "free-entry", 1, NOW - 2 * DAY),
    ("twice", "free-entry", 1, NOW - 3 * DAY),
    ("twice", "free-entry", 1, NOW - 40 * DAY),
    ("family", "free-entry", 4, NOW - 1 * DAY),  # one use, four attendees: four uses
    ("edge", "free-entry", 1, NOW - 7 * DAY),  # exactly 7 days ago: outside `days: 7`
    ("inside", "free-entry", 1, NOW - 7 * DAY + SECOND),
    ("now", "free-entry", 1, NOW),
    ("later", "free-entry", 1, NOW + SECOND),  # after now: does not count yet
    ("other", "lounge", 2, NOW - DAY),  # another offer only
]
CUSTOMERS = ["once", "twice", "family", "edge", "inside", "now", "later", "other", "never"]


@pytest.fixture
def used(world: World) -> World:
    for customer in CUSTOMERS:
        world.customer(customer)
    world.flush()
    with write_transaction(world.engine) as conn:
        conn.execute(
            insert(offer_uses),
            [
                {"offer": offer, "customer_id": c, "attendees": n, "used_at": at}
                for c, offer, n, at in USES
            ],
        )
    return world


def model(uses: dict[str, Any], after: datetime | None, upto: datetime) -> set[str]:
    """Who meets `uses` (one comparison) on free-entry, counting uses in (after, upto]."""
    totals = dict.fromkeys(CUSTOMERS, 0)
    for customer, offer, attendees, at in USES:
        if offer == "free-entry" and at <= upto and (after is None or at > after):
            totals[customer] += attendees
    ((op, value),) = uses.items()
    meets = {
        "exactly": lambda n: n == value,
        "less_than": lambda n: n < value,
        "greater_than": lambda n: n > value,
        "at_least": lambda n: n >= value,
        "at_most": lambda n: n <= value,
        "between": lambda n: value[0] <= n <= value[1],
    }[op]
    return {customer for customer, total in totals.items() if meets(total)}


def members(world: World, *conditions: Any) -> set[str]:
    specs = single(*conditions)
    with world.engine.connect() as conn:
        found = Members(*compiled_members(conn, specs, "s", NOW, DENVER), reference=set())
    return found.compiled


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        ({"at_least": 1}, "once twice family edge inside now"),
        ({"greater_than": 2}, "family"),
        ({"exactly": 2}, "twice"),
        ({"between": [2, 4]}, "twice family"),
        ({"at_most": 1}, "once edge inside now later other never"),
        # Comparisons 0 meets include those who never used it (or only another offer, or
        # only after now).
        ({"less_than": 1}, "later other never"),
        ({"exactly": 0}, "later other never"),
    ],
)
def test_uses_in_all_meet_the_comparison(used, uses, expected):
    found = members(used, {"offer": {"name": "free-entry", "uses": uses}})

    assert found == set(expected.split())
    assert found == model(uses, None, NOW)


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        ({"at_least": 1}, "once twice family inside now"),
        ({"exactly": 1}, "once twice inside now"),
        ({"less_than": 1}, "edge later other never"),
    ],
)
def test_a_rolling_window_counts_uses_after_exactly_n_days_ago_up_to_now(used, uses, expected):
    found = members(used, {"offer": {"name": "free-entry", "uses": uses, "within": {"days": 7}}})

    assert found == set(expected.split())
    assert found == model(uses, NOW - 7 * DAY, NOW)


def test_a_window_of_days_ago_and_one_of_local_dates(used):
    ago = {"from_days_ago": 45, "to_days_ago": 30}
    found = members(used, {"offer": {"name": "free-entry", "uses": {"at_least": 1}, "within": ago}})
    assert found == {"twice"} == model({"at_least": 1}, NOW - 45 * DAY, NOW - 30 * DAY)

    dates = {"since": "2026-11-19", "until": "2026-11-20"}  # whole local days in Denver
    found = members(
        used, {"offer": {"name": "free-entry", "uses": {"at_least": 1}, "within": dates}}
    )
    assert found == {"once", "twice"}  # used 11-20 and 11-19 at 10:00


def test_not_and_all_combine_the_offer_condition_with_others(used):
    never_used = {"not": {"offer": {"name": "free-entry", "uses": {"at_least": 1}}}}
    assert members(used, never_used) == {"later", "other", "never"}

    heavy_recent = [
        {"offer": {"name": "free-entry", "uses": {"at_least": 2}}},
        {"offer": {"name": "free-entry", "uses": {"at_least": 1}, "within": {"days": 2}}},
    ]
    assert members(used, *heavy_recent) == {"family"}
    lounge = {"offer": {"name": "lounge", "uses": {"exactly": 2}}}
    assert members(used, lounge) == {"other"}


def test_validation_reports_an_unknown_offer_name_with_a_suggestion():
    document = {
        "segments": {
            "s": {"conditions": [{"offer": {"name": "free-entri", "uses": {"at_least": 1}}}]}
        }
    }
    problems: list[Problem] = []
    specs = parse_segments(document, problems)
    problems += check_segments(document, specs, None, (), ("free-entry",))

    assert [p.message for p in problems] == [
        "unknown offer 'free-entri' (did you mean \"free-entry\"?)"
    ]
