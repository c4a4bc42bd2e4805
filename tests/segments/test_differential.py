"""Differential test: the compiled SQL of random segments against the reference evaluator.

Each example is a small random store — a handful of customers, their purchases, redemptions
and events, with timestamps clustered on local day boundaries of the organisation's zone, on
window edges (now - N days, to the second) and around now, some after now — and a random
segments.yaml whose segment `s` is a tree of every condition kind, up to three levels deep.
The three compiled paths (listing query, membership test, correlated probe) must each give
exactly the reference evaluator's members.

One migrated store serves a whole test function; its tables are emptied between examples.

Nothing is steered around: `not` over empty fields and empty aggregates, upper-case text
for `contains`, and dates for `created_at` are all generated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import World, segments_of

ZONES = [
    "America/Denver",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
    "America/Santiago",  # local midnight does not exist on its spring-forward day
    "Asia/Kathmandu",  # +05:45
]
# Dates around DST changes in those zones, and a plain one.
TODAYS = [
    date(2026, 3, 8),
    date(2026, 3, 9),
    date(2026, 4, 5),
    date(2026, 4, 6),
    date(2026, 9, 6),
    date(2026, 10, 4),
    date(2026, 10, 5),
    date(2026, 11, 1),
    date(2026, 11, 2),
    date(2026, 11, 22),
]
ITEMS = ["explorer-pass", "brewery-pass", "prize-tshirt"]
PASSES = ["explorer-pass", "brewery-pass"]
EVENT_NAMES = ["Order Completed", "Page Viewed"]
DAY_SECONDS = 86_400

# Typed per property, as real data is (see the reference module on cross-type comparisons).
PLANS = ["gold", "silver", "gold member", "bronze"]
REVENUES = [0, 10, 12.75, 25.5, 50, 100, 250, 300]
TIERS = ["gold", "silver", "bronze", "gold member"]
VISITS = [0, 3, 5, 12.5, 100]
EMAILS = ["ada@example.com", "bo@example.org", "cy@shop.example.com"]
NAMES = ["ada", "bo", "cy"]
CUSTOMER_ZONES = ["America/Denver", "Europe/Berlin", "Asia/Tokyo"]


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# -- stores ---------------------------------------------------------------------------------
# Strategies draw plain data (module-level, so hypothesis builds them once); `build` turns one
# draw into rows, placing every instant relative to that example's now and zone.

# Where an instant falls: near a local midnight (days from today, seconds off), on a window
# edge (now - N days, seconds off), or anywhere in the last 100 days and the next 2.
TIMES = st.one_of(
    st.tuples(
        st.just("midnight"),
        st.integers(-3, 3) | st.integers(-40, 40),
        st.sampled_from([-1, 0, 1, 3600]),
    ),
    st.tuples(
        st.just("window-edge"),
        st.sampled_from([0, 0.5, 1, 2, 7, 30, 90, -1]),
        st.sampled_from([-1, 0, 1]),
    ),
    st.tuples(st.just("anywhere"), st.integers(-100 * DAY_SECONDS, 2 * DAY_SECONDS), st.just(0)),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


PURCHASES = st.fixed_dictionaries(
    {
        "item": st.sampled_from(ITEMS),
        "purchased_at": TIMES,
        "expires_at": maybe(TIMES),
        "status": st.sampled_from(["active", "active", "cancelled", "refunded"]),
        "channel": st.sampled_from([None, "online", "app"]),
    }
)
REDEMPTIONS = st.fixed_dictionaries(
    {
        "pass_": st.sampled_from(PASSES),
        "redeemed_at": TIMES,
        "points": st.sampled_from([0, 10, 25, 60, 101]),
        "location": st.sampled_from([None, "zoo", "museum"]),
    }
)
EVENTS = st.fixed_dictionaries(
    {"name": st.sampled_from(EVENT_NAMES), "ts": TIMES},
    optional={
        "plan": st.sampled_from(PLANS),
        "revenue": st.sampled_from(REVENUES),
        "vip": st.booleans(),
    },
)
CUSTOMERS = st.fixed_dictionaries(
    {
        "email": maybe(st.sampled_from(EMAILS)),
        "has_phone": st.booleans(),
        "first_name": maybe(st.sampled_from(NAMES)),
        "timezone": maybe(st.sampled_from(CUSTOMER_ZONES)),
        "created_at": maybe(TIMES),
        "email_opt_in": st.booleans(),
        "sms_opt_in": st.booleans(),
        "attributes": st.fixed_dictionaries(
            {},
            optional={
                "tier": st.sampled_from(TIERS),
                "visits": st.sampled_from(VISITS),
                "vip": st.booleans(),
            },
        ),
        "purchases": st.lists(PURCHASES, max_size=3),
        "redemptions": st.lists(REDEMPTIONS, max_size=3),
        "events": st.lists(EVENTS, max_size=4),
    }
)
SCENARIOS = st.tuples(
    st.sampled_from(ZONES),
    st.sampled_from(TODAYS),
    st.sampled_from([0, 1, 3599, 3600, 43_200, 86_399]) | st.integers(0, 86_399),
    st.booleans(),  # a sub-second now (compiled bounds floor it)
    st.lists(CUSTOMERS, min_size=2, max_size=6),
)

Rows = dict[str, list[dict[str, Any]]]


def place(spec: Any, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant a TIMES draw stands for, in this example's now and zone."""
    if spec is None:
        return None
    kind, amount, off = spec
    if kind == "midnight":
        today = now.astimezone(tz).date()
        base = start_of_day(today + timedelta(days=amount), tz)
    elif kind == "window-edge":
        base = (now - timedelta(seconds=round(amount * DAY_SECONDS))).replace(microsecond=0)
    else:
        base = (now + timedelta(seconds=amount)).replace(microsecond=0)
    return base + timedelta(seconds=off)


def build(scenario: Any) -> tuple[ZoneInfo, datetime, Rows]:
    zone_name, today, seconds, sub_second, drawn = scenario
    tz = ZoneInfo(zone_name)
    now = start_of_day(today, tz) + timedelta(seconds=seconds)
    if sub_second:
        now += timedelta(microseconds=500_000)
    rows: Rows = {"customers": [], "purchases": [], "redemptions": [], "events": []}
    for n, c in enumerate(drawn):
        cid = f"c{n + 1}"
        rows["customers"].append(
            {
                "customer_id": cid,
                "email": c["email"],
                "phone": f"+1303555010{n}" if c["has_phone"] else None,
                "first_name": c["first_name"],
                "timezone": c["timezone"],
                "created_at": place(c["created_at"], now, tz),
                "email_opt_in": c["email_opt_in"],
                "sms_opt_in": c["sms_opt_in"],
                "attributes": c["attributes"],
            }
        )
        for p in c["purchases"]:
            rows["purchases"].append(
                {
                    **p,
                    "customer_id": cid,
                    "purchased_at": place(p["purchased_at"], now, tz),
                    "expires_at": place(p["expires_at"], now, tz),
                }
            )
        for r in c["redemptions"]:
            rows["redemptions"].append(
                {**r, "customer_id": cid, "redeemed_at": place(r["redeemed_at"], now, tz)}
            )
        for e in c["events"]:
            rows["events"].append({**e, "customer_id": cid, "ts": place(e["ts"], now, tz)})
    return tz, now, rows


def fill(world: World, rows: dict[str, list[dict[str, Any]]]) -> None:
    world.clear()
    for item in ITEMS:
        world.item(item, kind="prize" if item.startswith("prize") else "pass")
    for customer in rows["customers"]:
        world.customer(
            customer["customer_id"], **{k: v for k, v in customer.items() if k != "customer_id"}
        )
    for purchase in rows["purchases"]:
        world.purchase(
            purchase["customer_id"],
            purchase["item"],
            purchase["purchased_at"],
            expires_at=purchase["expires_at"],
            status=purchase["status"],
            channel=purchase["channel"],
        )
    for redemption in rows["redemptions"]:
        world.redemption(**redemption)
    for event in rows["events"]:
        world.event(**event)


# -- segments -------------------------------------------------------------------------------
# Strategies are built once at import (hypothesis then only draws); `null_safe` variants are
# what may stand under a `not` while the NULL bugs pinned in test_conditions.py are open.

OPERATORS = ["exactly", "less_than", "greater_than", "at_least", "at_most", "between"]


def comparison(op: str, a: float, b: float) -> dict[str, Any]:
    return {op: sorted([a, b])} if op == "between" else {op: a}


def comparisons(values: list[float]) -> st.SearchStrategy[dict[str, Any]]:
    picked = st.sampled_from(values)
    return st.builds(comparison, st.sampled_from(OPERATORS), picked, picked)


DAY_COMPARISONS = comparisons([-1, 0, 1, 2, 3, 7, 29, 30, 40, 0.5, 1.5, 2.5])
COUNT_COMPARISONS = comparisons([0, 1, 2, 3, 4, 0.5, 1.5, 2.5])
POINT_COMPARISONS = comparisons([0, 10, 25, 35, 60, 100, 101, 110.5, 150])
REVENUE_VALUES = [-1, 0, 10, 12.75, 25.5, 50, 100, 137.5, 250, 300, 600]
REVENUE_COMPARISONS = comparisons(REVENUE_VALUES)


def since_until(anchor: date, start: int, length: int, sides: str) -> dict[str, Any]:
    first = anchor + timedelta(days=start)
    window = {}
    if sides in ("both", "since"):
        window["since"] = first.isoformat()
    if sides in ("both", "until"):
        window["until"] = (first + timedelta(days=length)).isoformat()
    return window


WINDOWS = st.one_of(
    st.builds(lambda n: {"days": n}, st.sampled_from([0.5, 1, 2, 7, 30, 90])),
    st.builds(
        lambda ab: {"from_days_ago": ab[0], "to_days_ago": ab[1]},
        st.sampled_from([(2, 1), (30, 7), (90, 30), (1, 0), (7, 0.5)]),
    ),
    # Local dates near the anchor days, so they fall among the stores' records.
    st.builds(
        since_until,
        st.sampled_from(TODAYS),
        st.integers(-35, 1),
        st.integers(0, 10),
        st.sampled_from(["both", "since", "until"]),
    ),
)
MAYBE_WINDOW = maybe(WINDOWS)


def without_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def one_or_list(values: list[str]) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | st.lists(st.sampled_from(values), min_size=1, max_size=2)


def purchase(item: Any, channel: Any, status: Any, timing: str, days: Any) -> dict[str, Any]:
    return {
        "purchase": without_none(
            item=item,
            channel=channel,
            status=status,
            when="anytime" if timing == "anytime" else None,
            days_since_purchase=days if timing == "days" else None,
        )
    }


PURCHASE_CONDITIONS = st.builds(
    purchase,
    one_or_list(ITEMS),
    st.sampled_from([None, "online", "app"]),
    st.sampled_from([None, "active", "expired", "all"]),
    st.sampled_from(["none", "anytime", "days"]),
    DAY_COMPARISONS,
)
EXPIRATION_CONDITIONS = st.builds(
    lambda item, c: {"expiration": {"item": item, "days_until_expiration": c}},
    one_or_list(ITEMS),
    DAY_COMPARISONS,
)
REDEMPTION_CONDITIONS = st.builds(
    lambda p, status, count, within, location: {
        "redemptions": without_none(
            pass_status=status, count=count, within=within, location=location, **{"pass": p}
        )
    },
    one_or_list(PASSES),
    st.sampled_from([None, "active", "expired", "all"]),
    maybe(COUNT_COMPARISONS),
    MAYBE_WINDOW,
    st.sampled_from([None, "zoo", ["zoo", "museum"]]),
)
POINT_CONDITIONS = st.builds(
    lambda p, c, within: {"points": without_none(points=c, within=within, **{"pass": p})},
    one_or_list(PASSES),
    POINT_COMPARISONS,
    MAYBE_WINDOW,
)


def where(prop: str, op: str, value: Any) -> dict[str, Any]:
    return {"property": prop, "op": op} | ({} if op == "exists" else {"value": value})


# Values typed like the property; text in both cases (contains ignores case everywhere).
WHERE_FILTERS = st.one_of(
    st.builds(
        where,
        st.just("plan"),
        st.sampled_from(["equals", "not_equals", "contains", "exists"]),
        st.sampled_from(["old", "gold", "GOLD", "Silver", "x", *PLANS]),
    ),
    st.builds(
        where,
        st.just("revenue"),
        st.sampled_from(["equals", "not_equals", "greater_than", "less_than", "exists"]),
        st.sampled_from(REVENUE_VALUES),
    ),
    st.builds(
        where,
        st.just("vip"),
        st.sampled_from(["equals", "not_equals", "exists"]),
        st.booleans(),
    ),
)


def event(name: str, filters: list[Any], within: Any, aggregate: str, c: Any) -> dict[str, Any]:
    body: dict[str, Any] = without_none(name=name, where=filters, within=within)
    if aggregate == "count":
        if c is not None:
            body["count"] = c
    else:
        body[aggregate] = {"property": "revenue", **c}
    return {"event": body}


def event_conditions(aggregates: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    def one(aggregate: str) -> st.SearchStrategy[dict[str, Any]]:
        measure = maybe(COUNT_COMPARISONS) if aggregate == "count" else REVENUE_COMPARISONS
        return st.builds(
            event,
            st.sampled_from(EVENT_NAMES),
            st.lists(WHERE_FILTERS, max_size=2),
            MAYBE_WINDOW,
            st.just(aggregate),
            measure,
        )

    return st.one_of([one(a) for a in aggregates])


EVENT_CONDITIONS = event_conditions(["count", "count", "sum", "avg", "min", "max"])

CREATED_AT_VALUES = st.one_of(
    st.builds(
        lambda day, s: (start_of_day(day, ZoneInfo("UTC")) + timedelta(seconds=s)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        st.sampled_from(TODAYS),
        st.integers(-3 * DAY_SECONDS, 3 * DAY_SECONDS),
    ),
    # A date means that whole local day in the organisation's zone.
    st.builds(lambda day, d: day + timedelta(days=d), st.sampled_from(TODAYS), st.integers(-3, 3)),
)
# name: (ops besides exists / not_exists / not_equals, values)
ATTRIBUTES: dict[str, tuple[list[str], st.SearchStrategy[Any]]] = {
    "email": (["equals", "in", "contains"], st.sampled_from([*EMAILS, "example", "org"])),
    "phone": (["equals"], st.sampled_from(["+13035550100", "+13035550101"])),
    "first_name": (["equals", "contains", "greater_than", "less_than"], st.sampled_from(NAMES)),
    "timezone": (["equals", "in"], st.sampled_from(CUSTOMER_ZONES)),
    "created_at": (["equals", "greater_than", "less_than"], CREATED_AT_VALUES),
    "email_opt_in": (["equals"], st.booleans()),
    "sms_opt_in": (["equals"], st.booleans()),
    "tier": (
        ["equals", "in", "contains", "greater_than", "less_than"],
        st.sampled_from([*TIERS, "old"]),
    ),
    "visits": (["equals", "in", "greater_than", "less_than"], st.sampled_from([*VISITS, 4, 12])),
    "vip": (["equals"], st.booleans()),
}
NEVER_NULL = ("email_opt_in", "sms_opt_in")


def attribute(name: str, op: str, value: Any) -> dict[str, Any]:
    if op in ("exists", "not_exists"):
        return {"attribute": {"name": name, "op": op}}
    return {
        "attribute": {"name": name, "op": op, "value": str(value) if op == "contains" else value}
    }


def attribute_conditions(null_safe: bool) -> st.SearchStrategy[dict[str, Any]]:
    options = []
    for name, (ops, values) in ATTRIBUTES.items():
        for op in ["exists", "not_exists", "not_equals", *ops]:
            value = st.lists(values, min_size=1, max_size=3) if op == "in" else values
            options.append(st.builds(attribute, st.just(name), st.just(op), value))
    return st.one_of(options)


SUBSCRIBED = st.builds(
    lambda ch: {"subscribed": {"channel": ch}}, st.sampled_from(["email", "sms"])
)


def leaves(null_safe: bool, refs: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    kinds = [
        PURCHASE_CONDITIONS,
        EXPIRATION_CONDITIONS,
        REDEMPTION_CONDITIONS,
        POINT_CONDITIONS,
        EVENT_CONDITIONS,
        attribute_conditions(null_safe),
        SUBSCRIBED,
    ]
    if refs:
        kinds.append(st.just({"segment": "helper"}))
    return st.one_of(kinds)


def trees(depth: int, null_safe: bool = False, refs: bool = True) -> st.SearchStrategy[Any]:
    """Conditions nested up to `depth` levels above a leaf; `not` children are NULL-safe."""
    if depth == 0:
        return leaves(null_safe, refs)
    below = trees(depth - 1, null_safe, refs)
    return st.one_of(
        leaves(null_safe, refs),
        st.lists(below, min_size=1, max_size=3).map(lambda cs: {"all": cs}),
        st.lists(below, min_size=1, max_size=3).map(lambda cs: {"any": cs}),
        trees(depth - 1, null_safe=True, refs=refs).map(lambda c: {"not": c}),
    )


def segment_file(helper_match: str, helper: list[Any], match: str, s: list[Any]) -> Any:
    return {
        "segments": {
            "helper": {"match": helper_match, "conditions": helper},
            "s": {"match": match, "conditions": s},
        }
    }


MATCHES = st.sampled_from(["all", "any"])
# segments.yaml as data: `s` (a tree of depth <= 3 under its match) may refer to `helper`,
# which is NULL-safe since `s` may refer to it from under a `not`.
SEGMENT_FILES = st.builds(
    segment_file,
    MATCHES,
    st.lists(trees(1, null_safe=True, refs=False), min_size=1, max_size=2),
    MATCHES,
    st.lists(trees(2), min_size=1, max_size=3),
)
ANY_LEAF = leaves(null_safe=False)


def share(members: set[str], rows: Rows) -> str:
    """How much of the store a segment took, for --hypothesis-show-statistics."""
    if not members:
        return "members: none"
    return "members: all" if len(members) == len(rows["customers"]) else "members: some"


# -- the tests ------------------------------------------------------------------------------


@settings(
    max_examples=400,
    deadline=None,
    # One migrated store per test function, emptied at the start of every example (fill).
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=SCENARIOS, document=SEGMENT_FILES)
def test_compiled_segments_have_exactly_the_reference_members(
    world: World, scenario: Any, document: dict[str, Any]
) -> None:
    tz, now, rows = build(scenario)
    fill(world, rows)
    specs = segments_of(document)
    found = world.members(specs, "s", now, tz)
    assert found.compiled == found.reference
    hypothesis.event(share(found.reference, rows))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=SCENARIOS, condition=ANY_LEAF)
def test_each_leaf_condition_has_exactly_the_reference_members(
    world: World, scenario: Any, condition: dict[str, Any]
) -> None:
    tz, now, rows = build(scenario)
    fill(world, rows)
    specs = segments_of(
        {
            "segments": {
                "helper": {"conditions": [{"purchase": {"item": "explorer-pass"}}]},
                "s": {"conditions": [condition]},
            }
        }
    )
    found = world.members(specs, "s", now, tz)
    assert found.compiled == found.reference
    hypothesis.event(share(found.reference, rows))
