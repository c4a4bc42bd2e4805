"""SQL predicates for single conditions: counts, customer fields, JSON values, event filters.

Portable SQL lives here and in compile.py only. The one construct the two backends spell
differently, "what JSON type is this value", is `JsonIs`, compiled per dialect below, so a
comparison never casts text to a number (SQLite would read "gold" as 0; PostgreSQL fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import Boolean

from passcli.segments import spec as s
from passcli.segments.comparisons import Comparison
from passcli.store.schema import event_numbers
from passcli.timeutil import parse_instant, start_of_local_day, to_epoch


def _bool(expression: Any) -> ColumnElement[bool]:
    """Comparisons against `Any` values type as Any; they are boolean SQL all the same."""
    return cast("ColumnElement[bool]", expression)


class JsonIs(ColumnElement[bool]):
    """True when `column`'s top-level `key` holds a JSON value of `kind`: number, text or
    boolean (NULL when the key is missing, which no comparison meets)."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, column: Any, key: str, kind: str) -> None:
        self.column = column
        self.json_key = key
        self.kind = kind


SQLITE_KINDS = {"number": "('integer', 'real')", "text": "('text')", "boolean": "('true', 'false')"}
POSTGRES_KINDS = {"number": "'number'", "text": "'string'", "boolean": "'boolean'"}


@compiles(JsonIs, "sqlite")
def _json_is_sqlite(element: JsonIs, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    path = compiler.process(literal('$."' + element.json_key.replace('"', '\\"') + '"'), **kw)
    return f"json_type({column}, {path}) IN {SQLITE_KINDS[element.kind]}"


@compiles(JsonIs, "postgresql")
def _json_is_postgresql(element: JsonIs, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    key = compiler.process(literal(element.json_key), **kw)
    return f"jsonb_typeof({column} -> {key}) = {POSTGRES_KINDS[element.kind]}"


def one_of(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    return _bool(column == values[0] if len(values) == 1 else column.in_(list(values)))


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


def aggregate_sql(kind: str, value: Any) -> Any:
    if kind == "sum":
        return func.coalesce(func.sum(value), 0)
    if kind == "avg":
        return func.avg(value)
    return func.min(value) if kind == "min" else func.max(value)


def subscribed_sql(channel: str, c: Any) -> ColumnElement[bool]:
    """Can receive marketing on the channel: an address, and opted in (SPEC §3)."""
    if channel == "email":
        return and_(c.email.is_not(None), c.email_opt_in.is_(True))
    return and_(c.phone.is_not(None), c.sms_opt_in.is_(True))


def attribute_sql(c: s.Attribute, columns: Any, tz: tzinfo, now: datetime) -> ColumnElement[bool]:
    """An `attribute` condition on a customers row (built-in field or custom attribute)."""
    if c.name == "created_at" and c.op not in ("exists", "not_exists"):
        return _instant_sql(columns.created_at, c.op, c.value, tz)
    if c.name in s.BUILTIN_ATTRIBUTES:
        return field_sql(columns[c.name], c.op, c.value)
    return json_field_sql(columns.attributes, c.name, c.op, c.value)


def field_sql(column: Any, op: str, value: Any) -> ColumnElement[bool]:
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
        return _bool(column.icontains(str(value), autoescape=True))
    if op == "greater_than":
        return _bool(column > value)
    return _bool(column < value)


def _day_range(value: Any, tz: tzinfo) -> tuple[int, int] | None:
    """A date value means its whole local day: [start, end) in unix seconds."""
    if isinstance(value, date) and not isinstance(value, datetime):
        start = to_epoch(start_of_local_day(value, tz))
        return start, to_epoch(start_of_local_day(value + timedelta(days=1), tz))
    return None


def _instant(value: Any, tz: tzinfo) -> int:
    if isinstance(value, datetime):
        return to_epoch(value if value.tzinfo else value.replace(tzinfo=tz))
    return to_epoch(parse_instant(str(value), tz))


def _instant_sql(column: Any, op: str, value: Any, tz: tzinfo) -> ColumnElement[bool]:
    """`created_at` against a date (a whole local day in the organisation's zone) or an
    instant."""
    if op == "in":
        return _bool(or_(false(), *(_instant_sql(column, "equals", v, tz) for v in value)))
    day = _day_range(value, tz)
    if op in ("equals", "not_equals"):
        hit = and_(column >= day[0], column < day[1]) if day else column == _instant(value, tz)
        return _bool(hit if op == "equals" else or_(column.is_(None), not_(hit)))
    if op == "greater_than":
        return _bool(column >= day[1] if day else column > _instant(value, tz))
    if op == "less_than":
        return _bool(column < day[0] if day else column < _instant(value, tz))
    return false()  # contains on an instant never holds


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "text"


def _typed(element: Any, kind: str) -> Any:
    if kind == "boolean":
        return element.as_boolean()
    return element.as_float() if kind == "number" else element.as_string()


def json_field_sql(column: Any, key: str, op: str, value: Any) -> ColumnElement[bool]:
    """A top-level JSON value (custom attribute, event property) against a condition.

    Values compare by JSON type: a number only with numbers, text only with text, so no
    backend ever casts one to the other. JSON null counts as missing.
    """
    element = column[key]
    text: ColumnElement[Any] = element.as_string()
    if op == "exists":
        return _bool(text.is_not(None))
    if op == "not_exists":
        return _bool(text.is_(None))
    if op == "in":
        return _bool(or_(false(), *(json_field_sql(column, key, "equals", v) for v in value)))
    if op == "contains":
        return _bool(and_(JsonIs(column, key, "text"), text.icontains(str(value), autoescape=True)))
    kind = _kind(value)
    guard = JsonIs(column, key, kind)
    typed: ColumnElement[Any] = _typed(element, kind)
    if op == "equals":
        return _bool(and_(guard, typed == value))
    if op == "not_equals":
        return _bool(not_(func.coalesce(and_(guard, typed == value), false())))
    if op == "greater_than":
        return _bool(and_(guard, typed > value))
    return _bool(and_(guard, typed < value))


def where_sql(w: s.Where, e: Any) -> ColumnElement[bool]:
    """An event `where` filter. Numeric comparisons read the typed event_numbers side table."""
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
        return _bool(not_(found) if w.op == "not_equals" else found)
    return json_field_sql(e.properties, w.property, w.op, w.value)
