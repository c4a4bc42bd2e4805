"""A plain-Python reference evaluator of segments, written from SPEC §3 alone.

It is the oracle of the tests: the compiler (`compile.py`) turns segments into SQL for speed,
this module walks every customer's records one by one, as the contract reads, so that the two
can be compared on random stores (`tests/segments/test_differential.py`). It shares no code
with the compiler beyond the parsed specs: comparisons, windows, calendar days and statuses
are all re-derived here.

Everything is loaded into memory (`Snapshot.load`) and every condition re-scans a customer's
records: fine for test-sized stores (hundreds of rows), hopeless for real ones. Never use it
outside tests and debugging.

Choices where SPEC §3 is silent:

- Property and attribute values compare by JSON type: the number 5, the text "5" and the
  boolean true are three different values; `equals` never matches across types, and
  `greater_than` / `less_than` compare numbers with numbers and text with text only.
- `contains` is a case-insensitive substring test on text (a number is read as its JSON
  text), the same on every backend.
- A property or attribute holding JSON null is missing (`exists` is false, `not_equals` true).
- `created_at` compared with a date (`value: 2026-01-01`) compares the customer's local
  creation date in the organisation's zone; compared with a date-time, the instant.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Table, select

from passcli.segments import spec as s
from passcli.segments.comparisons import Comparison, Window
from passcli.store.schema import customers, events, items, purchases, redemptions

Record = dict[str, Any]


class UnevaluableSegmentError(ValueError):
    """A segment the reference cannot evaluate: an unknown name or a reference cycle."""


@dataclass(frozen=True)
class Snapshot:
    """Every row of the tables segments read, as dicts keyed by column name.

    Instants are aware datetimes (or integer unix seconds, for hand-built snapshots);
    `properties` and `attributes` are dicts. Test-sized stores only: everything is in memory.
    """

    customers: list[Record] = field(default_factory=list)
    items: list[Record] = field(default_factory=list)
    purchases: list[Record] = field(default_factory=list)
    redemptions: list[Record] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)

    @classmethod
    def load(cls, conn: Connection) -> Snapshot:
        """Read the whole store (test-sized stores only)."""

        def rows(table: Table) -> list[Record]:
            return [dict(row._mapping) for row in conn.execute(select(table))]

        return cls(
            customers=rows(customers),
            items=rows(items),
            purchases=rows(purchases),
            redemptions=rows(redemptions),
            events=rows(events),
        )


def evaluate(
    segments: Mapping[str, s.SegmentSpec],
    name: str,
    store: Snapshot,
    now: datetime,
    tz: tzinfo,
) -> set[str]:
    """The ids of the customers in segment `name` at instant `now`, calendar days read in `tz`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return _Evaluator(segments, store, now, tz).members(name)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime in a snapshot")
        return value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    raise TypeError(f"not an instant: {value!r}")


def _optional_instant(value: Any) -> datetime | None:
    return None if value is None else _instant(value)


def meets(comparison: Comparison, value: float | None) -> bool:
    """Does a value meet a comparison? An absent value (None) meets none."""
    if value is None:
        return False
    if comparison.exactly is not None:
        return value == comparison.exactly
    if comparison.less_than is not None:
        return value < comparison.less_than
    if comparison.greater_than is not None:
        return value > comparison.greater_than
    if comparison.at_least is not None:
        return value >= comparison.at_least
    if comparison.at_most is not None:
        return value <= comparison.at_most
    if comparison.between is not None:
        low, high = comparison.between
        return low <= value <= high
    raise ValueError(f"comparison without operator: {comparison!r}")


def _number(value: Any) -> float | None:
    """A JSON number as float; booleans and everything else are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _same(actual: Any, expected: Any) -> bool:
    """JSON-typed equality: numbers with numbers, text with text, booleans with booleans."""
    if actual is None or expected is None:
        return False
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    actual_number, expected_number = _number(actual), _number(expected)
    if expected_number is not None or actual_number is not None:
        return actual_number is not None and actual_number == expected_number
    return isinstance(actual, str) and isinstance(expected, str) and actual == expected


def _ordered(actual: Any, expected: Any, op: str) -> bool:
    """`greater_than` / `less_than` between two numbers or two texts; else false."""
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return a > e if op == "greater_than" else a < e
    if isinstance(actual, str) and isinstance(expected, str):
        return actual > expected if op == "greater_than" else actual < expected
    return False


def _text(value: Any) -> str | None:
    """The text `contains` looks into: text as is, a number as its JSON text."""
    if isinstance(value, str):
        return value
    if _number(value) is not None:
        return json.dumps(value)
    return None


class _Evaluator:
    def __init__(
        self,
        segments: Mapping[str, s.SegmentSpec],
        store: Snapshot,
        now: datetime,
        tz: tzinfo,
    ) -> None:
        self.segments = segments
        self.store = store
        # In UTC, so that `now - timedelta(days=N)` is elapsed time, not wall-clock arithmetic
        # in the zone (a day in a window is exactly 24 hours, SPEC §3), and comparisons never
        # fall back to same-zone wall-time comparison (which ignores `fold`).
        self.now = now.astimezone(UTC)
        self.tz = tz
        self.today = now.astimezone(tz).date()
        # Records timestamped after now do not count yet (SPEC §3): drop them up front.
        self.purchases = _by_customer(
            p for p in store.purchases if _instant(p["purchased_at"]) <= now
        )
        self.redemptions = _by_customer(
            r for r in store.redemptions if _instant(r["redeemed_at"]) <= now
        )
        self.events = _by_customer(e for e in store.events if _instant(e["ts"]) <= now)

    def members(self, name: str) -> set[str]:
        return {c["id"] for c in self.store.customers if self.in_segment(name, c, ())}

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    # -- structure --------------------------------------------------------------------------

    def in_segment(self, name: str, customer: Record, stack: tuple[str, ...]) -> bool:
        if name in stack:
            raise UnevaluableSegmentError(f"segment cycle: {' -> '.join((*stack, name))}")
        segment = self.segments.get(name)
        if segment is None:
            raise UnevaluableSegmentError(f"unknown segment {name!r}")
        results = (self.holds(c, customer, (*stack, name)) for c in segment.conditions)
        return all(results) if segment.match == "all" else any(results)

    def holds(self, condition: s.Condition, customer: Record, stack: tuple[str, ...]) -> bool:
        if isinstance(condition, s.AllOf):
            return all(self.holds(c, customer, stack) for c in condition.conditions)
        if isinstance(condition, s.AnyOf):
            return any(self.holds(c, customer, stack) for c in condition.conditions)
        if isinstance(condition, s.Not):
            return not self.holds(condition.condition, customer, stack)
        if isinstance(condition, s.SegmentRef):
            return self.in_segment(condition.name, customer, stack)
        if isinstance(condition, s.Purchase):
            return self.purchase(condition, customer["id"])
        if isinstance(condition, s.Expiration):
            return self.expiration(condition, customer["id"])
        if isinstance(condition, s.Redemptions):
            return self.redemption_count(condition, customer["id"])
        if isinstance(condition, s.Points):
            return self.points(condition, customer["id"])
        if isinstance(condition, s.Event):
            return self.event(condition, customer["id"])
        if isinstance(condition, s.Attribute):
            return self.attribute(condition, customer)
        if isinstance(condition, s.Subscribed):
            return subscribed(condition.channel, customer)
        raise TypeError(f"unknown condition {condition!r}")

    # -- purchases -------------------------------------------------------------------------

    def has_status(self, purchase: Record, status: str) -> bool:
        """`active`: status active and not expired; `expired`: status active and expires_at
        <= now; `all`: any record."""
        if status == "all":
            return True
        if purchase["status"] != "active":
            return False
        expires = _optional_instant(purchase["expires_at"])
        expired = expires is not None and expires <= self.now
        return expired if status == "expired" else not expired

    def purchase(self, c: s.Purchase, customer_id: str) -> bool:
        for p in self.purchases[customer_id]:
            if p["item"] not in c.item or not self.has_status(p, c.status):
                continue
            if c.channel is not None and p["channel"] != c.channel:
                continue
            if c.days_since_purchase is not None:
                bought = self.local_date(_instant(p["purchased_at"]))
                if not meets(c.days_since_purchase, (self.today - bought).days):
                    continue
            return True
        return False

    def expiration(self, c: s.Expiration, customer_id: str) -> bool:
        for p in self.purchases[customer_id]:
            if p["item"] not in c.item or p["status"] != "active":
                continue
            expires = _optional_instant(p["expires_at"])
            if expires is None or expires <= self.now:
                continue
            days = (self.local_date(expires) - self.today).days
            if meets(c.days_until_expiration, days):
                return True
        return False

    def holds_pass(self, customer_id: str, passes: Iterable[str], status: str) -> bool:
        wanted = set(passes)
        return any(
            p["item"] in wanted and self.has_status(p, status) for p in self.purchases[customer_id]
        )

    # -- redemptions and points -----------------------------------------------------------

    def in_window(self, window: Window | None, instant: datetime) -> bool:
        """Is a record (already not after now) inside `within`?"""
        if window is None:
            return True
        if window.days is not None:
            return self.now - timedelta(days=window.days) < instant <= self.now
        if window.from_days_ago is not None and window.to_days_ago is not None:
            start = self.now - timedelta(days=window.from_days_ago)
            end = self.now - timedelta(days=window.to_days_ago)
            return start < instant <= end
        day = self.local_date(instant)
        if window.since is not None and day < window.since:
            return False
        return not (window.until is not None and day > window.until)

    def redeemed(self, c: s.Redemptions | s.Points, customer_id: str) -> list[Record]:
        locations = c.location if isinstance(c, s.Redemptions) else None
        return [
            r
            for r in self.redemptions[customer_id]
            if r["pass"] in c.pass_
            and self.in_window(c.within, _instant(r["redeemed_at"]))
            and (not locations or r["location"] in locations)
        ]

    def redemption_count(self, c: s.Redemptions, customer_id: str) -> bool:
        if not self.holds_pass(customer_id, c.pass_, c.pass_status):
            return False
        return meets(c.count, len(self.redeemed(c, customer_id)))

    def points(self, c: s.Points, customer_id: str) -> bool:
        if not self.holds_pass(customer_id, c.pass_, "all"):
            return False
        return meets(c.points, sum(int(r["points"]) for r in self.redeemed(c, customer_id)))

    # -- events ----------------------------------------------------------------------------

    def event(self, c: s.Event, customer_id: str) -> bool:
        matching = [
            e
            for e in self.events[customer_id]
            if e["event"] == c.name
            and self.in_window(c.within, _instant(e["ts"]))
            and all(where_holds(w, e["properties"]) for w in c.where)
        ]
        aggregates = {"sum": c.sum, "avg": c.avg, "min": c.min, "max": c.max}
        chosen = [(kind, agg) for kind, agg in aggregates.items() if agg is not None]
        if not chosen:
            return meets(c.count or Comparison(at_least=1), len(matching))
        ((kind, agg),) = chosen
        assert agg is not None
        values = [
            v
            for v in (_number(e["properties"].get(agg.property)) for e in matching)
            if v is not None
        ]
        comparison = _comparison_of(agg)
        if kind == "sum":
            return meets(comparison, sum(values))  # over no records: 0
        if not values:
            return False  # avg, min, max over no records are absent
        if kind == "avg":
            return meets(comparison, sum(values) / len(values))
        return meets(comparison, min(values) if kind == "min" else max(values))

    # -- customer fields -------------------------------------------------------------------

    def attribute(self, c: s.Attribute, customer: Record) -> bool:
        if c.name == "created_at":
            return self.created_at(c, _optional_instant(customer["created_at"]))
        if c.name in s.BUILTIN_ATTRIBUTES:
            return field_holds(c.op, customer[c.name], c.value)
        attributes = customer["attributes"] or {}
        return json_holds(c.op, attributes.get(c.name), c.value)

    def created_at(self, c: s.Attribute, created: datetime | None) -> bool:
        if c.op in ("exists", "not_exists"):
            return (created is not None) == (c.op == "exists")
        values = c.value if c.op == "in" else [c.value]
        points = [self.point_in_time(v) for v in values]

        def equal(point: date | datetime) -> bool:
            assert created is not None
            if isinstance(point, datetime):
                return created == point
            return self.local_date(created) == point

        if created is None:
            return c.op == "not_equals"
        if c.op in ("equals", "in"):
            return any(equal(p) for p in points)
        if c.op == "not_equals":
            return not equal(points[0])
        if c.op in ("greater_than", "less_than"):
            point = points[0]
            if isinstance(point, datetime):
                return created > point if c.op == "greater_than" else created < point
            day = self.local_date(created)
            return day > point if c.op == "greater_than" else day < point
        return False  # contains on an instant

    def point_in_time(self, value: Any) -> date | datetime:
        """A date (compared with the local creation date) or an aware instant."""
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            return value
        else:
            text = str(value).strip()
            try:
                return date.fromisoformat(text)
            except ValueError:
                parsed = datetime.fromisoformat(text)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)).astimezone(UTC)


def _by_customer(records: Iterable[Record]) -> defaultdict[str, list[Record]]:
    result: defaultdict[str, list[Record]] = defaultdict(list)
    for record in records:
        result[record["customer_id"]].append(record)
    return result


def _comparison_of(aggregate: s.Aggregate) -> Comparison:
    fields = {op: getattr(aggregate, op) for op in Comparison.model_fields}
    return Comparison.model_validate({k: v for k, v in fields.items() if v is not None})


def where_holds(w: s.Where, properties: Mapping[str, Any]) -> bool:
    """An event `where` filter against the event's properties (missing = JSON null)."""
    actual = properties.get(w.property)
    if w.op == "exists":
        return actual is not None
    if w.op == "equals":
        return _same(actual, w.value)
    if w.op == "not_equals":
        return not _same(actual, w.value)
    if w.op in ("greater_than", "less_than"):
        a, e = _number(actual), _number(w.value)
        if a is None or e is None:
            return False
        return a > e if w.op == "greater_than" else a < e
    if w.op == "contains":
        text = _text(actual)
        return text is not None and str(w.value).lower() in text.lower()
    raise ValueError(f"unknown where op {w.op!r}")


def json_holds(op: str, actual: Any, expected: Any) -> bool:
    """A custom attribute (a JSON value, None when missing) against an attribute condition."""
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op == "equals":
        return _same(actual, expected)
    if op == "not_equals":
        return not _same(actual, expected)
    if op == "in":
        return any(_same(actual, v) for v in expected)
    if op == "contains":
        text = _text(actual)
        return text is not None and str(expected).lower() in text.lower()
    if op in ("greater_than", "less_than"):
        return _ordered(actual, expected, op)
    raise ValueError(f"unknown attribute op {op!r}")


def field_holds(op: str, actual: Any, expected: Any) -> bool:
    """A built-in text or boolean field of the customer (None when empty)."""
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op == "not_equals":
        return actual is None or not _field_equal(actual, expected)
    if actual is None:
        return False
    if op == "equals":
        return _field_equal(actual, expected)
    if op == "in":
        return any(_field_equal(actual, v) for v in expected)
    if op == "contains":
        return isinstance(actual, str) and str(expected).lower() in actual.lower()
    if op in ("greater_than", "less_than"):
        return _ordered(actual, expected, op)
    raise ValueError(f"unknown attribute op {op!r}")


def _field_equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    return bool(actual == expected)


def subscribed(channel: str, customer: Record) -> bool:
    """Can receive marketing on the channel: an address, and opted in."""
    if channel == "email":
        return bool(customer["email"]) and customer["email_opt_in"] is True
    return bool(customer["phone"]) and customer["sms_opt_in"] is True
