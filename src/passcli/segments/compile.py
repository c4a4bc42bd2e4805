"""Segments to SQL: one SQLAlchemy Core SELECT of customer ids per segment.

Every condition compiles to two forms:

- `test(outer)`: a predicate on an outer customer-id column, usually a correlated EXISTS or
  aggregate subquery that probes a covering index;
- `ids()`: when the condition can only hold for customers that have some record, a query
  listing exactly its members from the records themselves, without scanning `customers`.

`all` starts from the cheapest child that has `ids` (the "driver": one day of purchases, the
last 90 days of orders) and probes the others with `test` — the shape of the hand-tuned queries
in LIMITS.md. `any` is a UNION when every child can list ids. Otherwise, and under `not`, the
query falls back to testing every row of `customers`.

All time arithmetic happens here in Python: calendar days in the organisation's zone and
rolling windows become integer bounds on indexed unix-second columns, so the SQL is plain
comparisons that run the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from passcli.errors import UsageError
from passcli.segments import spec as s
from passcli.segments.comparisons import (
    Comparison,
    day_bounds,
    range_sql,
    today_in,
    window_sql,
)
from passcli.store.schema import customers, event_numbers, events, purchases, redemptions
from passcli.timeutil import parse_instant, start_of_local_day, to_epoch

Outer = ColumnElement[Any]
Test = Callable[[Outer], ColumnElement[bool]]
Ids = Callable[[], Select[Any]]

# Rough cost of listing a condition's ids, to choose the driver of an `all`.
NARROW, WINDOW, ITEM, AGGREGATE, SCAN = 1, 2, 3, 4, 9
ID = "customer_id"


@dataclass(frozen=True)
class Compiled:
    test: Test
    ids: Ids | None
    cost: int


class SegmentCompiler:
    """Compiles the segments of one file at one instant in one time zone."""

    def __init__(self, segments: dict[str, s.SegmentSpec], now: datetime, tz: tzinfo) -> None:
        self.segments = segments
        self.now = now
        self.tz = tz
        self.now_s = to_epoch(now)
        self.today = today_in(now, tz)

    def query(self, name: str) -> Select[Any]:
        """SELECT customer_id: the members of segment `name`, each once."""
        compiled = self.compile(self._segment(name).root, (name,))
        if compiled.ids is not None:
            return compiled.ids()
        return select(customers.c.id.label(ID)).where(compiled.test(customers.c.id))

    def contains(self, name: str, customer_id: Outer) -> ColumnElement[bool]:
        """A predicate: is the customer with this id a member of `name`?"""
        return self.compile(self._segment(name).root, (name,)).test(customer_id)

    def _segment(self, name: str) -> s.SegmentSpec:
        try:
            return self.segments[name]
        except KeyError:
            raise UsageError(f"unknown segment {name!r}") from None

    def compile(self, condition: s.Condition, stack: tuple[str, ...] = ()) -> Compiled:
        if isinstance(condition, s.AllOf):
            return self._all([self.compile(c, stack) for c in condition.conditions])
        if isinstance(condition, s.AnyOf):
            return self._any([self.compile(c, stack) for c in condition.conditions])
        if isinstance(condition, s.Not):
            inner = self.compile(condition.condition, stack)
            return Compiled(lambda outer: not_(inner.test(outer)), None, SCAN)
        if isinstance(condition, s.SegmentRef):
            if condition.name in stack:
                raise UsageError(f"segment {condition.name!r} refers to itself")
            referred = self._segment(condition.name)
            return self.compile(referred.root, (*stack, condition.name))
        if isinstance(condition, s.Purchase):
            return self._purchase(condition)
        if isinstance(condition, s.Expiration):
            return self._expiration(condition)
        if isinstance(condition, s.Redemptions):
            return self._redemptions(condition)
        if isinstance(condition, s.Points):
            return self._points(condition)
        if isinstance(condition, s.Event):
            return self._event(condition)
        if isinstance(condition, s.Attribute):
            return self._customer_field(lambda c: self._attribute(condition, c))
        if isinstance(condition, s.Subscribed):
            return self._customer_field(lambda c: subscribed_sql(condition.channel, c))
        raise TypeError(f"unknown condition {condition!r}")  # pragma: no cover

    # -- combinators ------------------------------------------------------------------------

    def _all(self, parts: list[Compiled]) -> Compiled:
        def test(outer: Outer) -> ColumnElement[bool]:
            return and_(*(p.test(outer) for p in parts))

        listable = [p for p in parts if p.ids is not None]
        if not listable:
            return Compiled(test, None, SCAN)
        driver = min(listable, key=lambda p: p.cost)
        others = [p for p in parts if p is not driver]
        if not others:
            return driver
        assert driver.ids is not None
        driver_ids = driver.ids

        def ids() -> Select[Any]:
            candidates = driver_ids().subquery()
            column = candidates.c[ID]
            return select(column).where(*(p.test(column) for p in others))

        return Compiled(test, ids, driver.cost)

    def _any(self, parts: list[Compiled]) -> Compiled:
        def test(outer: Outer) -> ColumnElement[bool]:
            return or_(*(p.test(outer) for p in parts))

        if len(parts) == 1:
            return parts[0]
        if any(p.ids is None for p in parts):
            return Compiled(test, None, SCAN)
        makers = [p.ids for p in parts if p.ids is not None]

        def ids() -> Select[Any]:
            united = union(*(make() for make in makers)).subquery()
            return select(united.c[ID])

        return Compiled(test, ids, sum(p.cost for p in parts))

    def _customer_field(self, predicate: Callable[[Any], ColumnElement[bool]]) -> Compiled:
        def test(outer: Outer) -> ColumnElement[bool]:
            if outer is customers.c.id:
                return predicate(customers.c)
            c = customers.alias()
            return exists().where(c.c.id == outer, predicate(c.c))

        def ids() -> Select[Any]:
            return select(customers.c.id.label(ID)).where(predicate(customers.c))

        return Compiled(test, ids, SCAN)

    # -- purchases ----------------------------------------------------------------------------

    def _holding(self, p: Any, items: Sequence[str], status: str) -> list[ColumnElement[bool]]:
        """Purchases of `items` with a pass status: active, expired or all (SPEC §3)."""
        preds = [one_of(p.item, items), p.purchased_at <= self.now_s]
        if status == "active":
            preds += [
                p.status == "active",
                or_(p.expires_at.is_(None), p.expires_at > self.now_s),
            ]
        elif status == "expired":
            preds += [p.status == "active", p.expires_at <= self.now_s]
        return preds

    def _purchase_like(
        self, preds: Callable[[Any], list[ColumnElement[bool]]], cost: int
    ) -> Compiled:
        def test(outer: Outer) -> ColumnElement[bool]:
            p = purchases.alias().c
            return exists().where(p.customer_id == outer, *preds(p))

        def ids() -> Select[Any]:
            p = purchases.alias().c
            return select(p.customer_id.label(ID)).where(*preds(p)).distinct()

        return Compiled(test, ids, cost)

    def _purchase(self, c: s.Purchase) -> Compiled:
        day_range: tuple[int | None, int | None] = (None, None)
        if c.days_since_purchase is not None:
            whole = c.days_since_purchase.whole_range()
            if whole is None:
                return nothing()
            day_range = day_bounds(whole, self.today, self.tz, direction=-1)

        def preds(p: Any) -> list[ColumnElement[bool]]:
            result = self._holding(p, c.item, c.status)
            if c.channel is not None:
                result.append(p.channel == c.channel)
            if day_range != (None, None):
                result.append(range_sql(p.purchased_at, *day_range))
            return result

        return self._purchase_like(preds, NARROW if day_range != (None, None) else ITEM)

    def _expiration(self, c: s.Expiration) -> Compiled:
        whole = c.days_until_expiration.whole_range()
        if whole is None:
            return nothing()
        start, end = day_bounds(whole, self.today, self.tz, direction=+1)

        def preds(p: Any) -> list[ColumnElement[bool]]:
            return [
                one_of(p.item, c.item),
                p.status == "active",
                p.expires_at > self.now_s,
                range_sql(p.expires_at, start, end),
                p.purchased_at <= self.now_s,
            ]

        return self._purchase_like(preds, NARROW)

    # -- redemptions and points --------------------------------------------------------------

    def _redeemed(
        self, r: Any, outer: Outer, passes: Sequence[str], c: s.Redemptions | s.Points
    ) -> list[ColumnElement[bool]]:
        preds = [r.customer_id == outer, one_of(r["pass"], passes), r.redeemed_at <= self.now_s]
        if c.within is not None:
            preds.append(window_sql(r.redeemed_at, c.within.bounds(self.now, self.tz)))
        if isinstance(c, s.Redemptions) and c.location:
            preds.append(one_of(r.location, c.location))
        return preds

    def _holder_and(self, passes: Sequence[str], status: str, check: Test, cost: int) -> Compiled:
        def test(outer: Outer) -> ColumnElement[bool]:
            p = purchases.alias().c
            holds = exists().where(p.customer_id == outer, *self._holding(p, passes, status))
            return and_(holds, check(outer))

        def ids() -> Select[Any]:
            p = purchases.alias().c
            holders = (
                select(p.customer_id.label(ID))
                .where(*self._holding(p, passes, status))
                .distinct()
                .subquery()
            )
            return select(holders.c[ID]).where(check(holders.c[ID]))

        return Compiled(test, ids, cost)

    def _redemptions(self, c: s.Redemptions) -> Compiled:
        def check(outer: Outer) -> ColumnElement[bool]:
            r = redemptions.alias().c
            preds = self._redeemed(r, outer, c.pass_, c)
            return count_test(c.count, preds)

        cost = WINDOW if c.pass_status != "all" else ITEM
        return self._holder_and(c.pass_, c.pass_status, check, cost)

    def _points(self, c: s.Points) -> Compiled:
        def check(outer: Outer) -> ColumnElement[bool]:
            r = redemptions.alias().c
            total = select(func.coalesce(func.sum(r.points), 0)).where(
                *self._redeemed(r, outer, c.pass_, c)
            )
            return c.points.sql(total.scalar_subquery())

        return self._holder_and(c.pass_, "all", check, AGGREGATE)

    # -- events ---------------------------------------------------------------------------

    def _event(self, c: s.Event) -> Compiled:
        bounds = c.within.bounds(self.now, self.tz) if c.within is not None else None
        comparison = c.comparison
        windowed = WINDOW if bounds is not None else AGGREGATE

        def event_preds(e: Any) -> list[ColumnElement[bool]]:
            preds = [e.event == c.name, e.ts <= self.now_s]
            if bounds is not None:
                preds.append(window_sql(e.ts, bounds))
            preds += [where_sql(w, e) for w in c.where]
            return preds

        if c.aggregate == "count":

            def count_check(outer: Outer) -> ColumnElement[bool]:
                e = events.alias().c
                return count_test(comparison, [e.customer_id == outer, *event_preds(e)])

            def count_ids() -> Select[Any]:
                e = events.alias().c
                query = select(e.customer_id.label(ID)).where(*event_preds(e))
                if _is_at_least_one(comparison):
                    return query.distinct()
                return query.group_by(e.customer_id).having(comparison.sql(func.count()))

            listable = not comparison.meets_zero
            return Compiled(count_check, count_ids if listable else None, windowed)

        aggregate: s.Aggregate = getattr(c, c.aggregate)
        prop = aggregate.property

        def value_rows(outer: Outer | None) -> tuple[Any, list[ColumnElement[bool]], Any]:
            n = event_numbers.alias().c
            preds: list[ColumnElement[bool]] = [n.event == c.name, n.name == prop]
            preds.append(n.ts <= self.now_s)
            if bounds is not None:
                preds.append(window_sql(n.ts, bounds))
            if c.where:
                e = events.alias().c
                preds += [e.message_id == n.message_id, *(where_sql(w, e) for w in c.where)]
            if outer is not None:
                preds.insert(0, n.customer_id == outer)
            return n, preds, _aggregate(c.aggregate, n.value)

        def agg_check(outer: Outer) -> ColumnElement[bool]:
            _, preds, value = value_rows(outer)
            return comparison.sql(select(value).where(*preds).scalar_subquery())

        def agg_ids() -> Select[Any]:
            n, preds, value = value_rows(None)
            return (
                select(n.customer_id.label(ID))
                .where(*preds)
                .group_by(n.customer_id)
                .having(comparison.sql(value))
            )

        listable = c.aggregate != "sum" or not comparison.meets_zero
        return Compiled(agg_check, agg_ids if listable else None, windowed)

    # -- attributes -----------------------------------------------------------------------

    def _attribute(self, c: s.Attribute, columns: Any) -> ColumnElement[bool]:
        if c.name in s.BUILTIN_ATTRIBUTES:
            column = columns[c.name]
            value: Any = c.value
            if c.name == "created_at" and value is not None:
                value = self._instant_value(value, c.op)
            return field_sql(column, c.op, value)
        return json_field_sql(columns.attributes[c.name], c.op, c.value)

    def _instant_value(self, value: Any, op: str) -> Any:
        if isinstance(value, list):
            return [self._instant_value(v, op) for v in value]
        if isinstance(value, datetime):
            return to_epoch(value if value.tzinfo else value.replace(tzinfo=self.tz))
        if hasattr(value, "year") and not isinstance(value, datetime):
            return to_epoch(start_of_local_day(value, self.tz))
        return to_epoch(parse_instant(str(value), self.tz))


# -- helpers shared with other compilers ------------------------------------------------------


def nothing() -> Compiled:
    return Compiled(lambda outer: false(), lambda: select(literal("").label(ID)).where(false()), 0)


def one_of(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    return _bool(column == values[0] if len(values) == 1 else column.in_(list(values)))


def _is_at_least_one(comparison: Comparison) -> bool:
    whole = comparison.whole_range()
    return whole is not None and whole[0] == 1 and whole[1] is None


def count_test(comparison: Comparison, preds: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """count(*) of the rows meeting `preds` against a comparison; EXISTS where that is enough."""
    whole = comparison.whole_range()
    if whole is None:
        return false()
    if whole == (None, 0) or whole == (0, 0):
        return not_(exists().where(*preds))
    if whole[0] is not None and whole[0] <= 0 and whole[1] is None:
        return true()
    if whole == (1, None):
        return exists().where(*preds)
    counted = select(func.count()).where(*preds).scalar_subquery()
    return comparison.sql(counted)


def _aggregate(kind: str, value: Any) -> Any:
    if kind == "sum":
        return func.coalesce(func.sum(value), 0)
    if kind == "avg":
        return func.avg(value)
    return func.min(value) if kind == "min" else func.max(value)


def _bool(expression: Any) -> ColumnElement[bool]:
    """Comparisons against `Any` values type as Any; they are boolean SQL all the same."""
    return cast("ColumnElement[bool]", expression)


def subscribed_sql(channel: str, c: Any) -> ColumnElement[bool]:
    """Can receive marketing on the channel: an address, and opted in (SPEC §3)."""
    if channel == "email":
        return and_(c.email.is_not(None), c.email_opt_in.is_(True))
    return and_(c.phone.is_not(None), c.sms_opt_in.is_(True))


def field_sql(column: KeyedColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """A typed column of `customers` against an attribute condition."""
    if op == "exists":
        return _bool(column.is_not(None))
    if op == "not_exists":
        return _bool(column.is_(None))
    if op == "equals":
        return _bool(column == value)
    if op == "not_equals":
        return _bool(or_(column.is_(None), column != value))
    if op == "in":
        return _bool(column.in_(list(value)))
    if op == "contains":
        return _bool(column.contains(str(value), autoescape=True))
    if op == "greater_than":
        return _bool(column > value)
    return _bool(column < value)


def json_field_sql(element: Any, op: str, value: Any) -> ColumnElement[bool]:
    """A JSON property (custom attribute, event property) against a condition; the value's
    Python type chooses how the JSON value is read."""
    text: ColumnElement[Any] = element.as_string()
    if op == "exists":
        return _bool(text.is_not(None))
    if op == "not_exists":
        return _bool(text.is_(None))
    if op == "in":
        return _bool(or_(*(json_field_sql(element, "equals", v) for v in value)))
    if op == "contains":
        return _bool(text.contains(str(value), autoescape=True))
    typed: ColumnElement[Any] = _typed(element, value)
    if op == "equals":
        return _bool(typed == value)
    if op == "not_equals":
        return _bool(or_(text.is_(None), typed != value))
    if op == "greater_than":
        return _bool(typed > value)
    return _bool(typed < value)


def _typed(element: Any, value: Any) -> Any:
    if isinstance(value, bool):
        return element.as_boolean()
    if isinstance(value, int | float):
        return element.as_float()
    return element.as_string()


def where_sql(w: s.Where, e: Any) -> ColumnElement[bool]:
    """An event `where` filter. Numeric comparisons read the typed event_numbers side table,
    so no backend ever casts a JSON string to a number."""
    if w.op in ("greater_than", "less_than") or (
        w.op in ("equals", "not_equals")
        and isinstance(w.value, int | float)
        and not isinstance(w.value, bool)
    ):
        n = event_numbers.alias().c
        value = float(w.value)  # type: ignore[arg-type]
        compare = {
            "greater_than": n.value > value,
            "less_than": n.value < value,
            "equals": n.value == value,
            "not_equals": n.value == value,
        }[w.op]
        found = exists().where(n.message_id == e.message_id, n.name == w.property, compare)
        return not_(found) if w.op == "not_equals" else found
    return json_field_sql(e.properties[w.property], w.op, w.value)
