"""Comparisons (`exactly`, `less_than`, ... `between`) and `within` windows of SPEC §3."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import ColumnElement, and_, true

from passcli.timeutil import local_date, start_of_local_day, to_epoch

OPERATORS = ("exactly", "less_than", "greater_than", "at_least", "at_most", "between")

Number = float


class Spec(BaseModel):
    """Base of every file-format model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(Spec):
    """Exactly one operator; `between` is inclusive at both ends."""

    exactly: Number | None = None
    less_than: Number | None = None
    greater_than: Number | None = None
    at_least: Number | None = None
    at_most: Number | None = None
    between: tuple[Number, Number] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Self:
        given = [op for op in OPERATORS if getattr(self, op) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(OPERATORS)}")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError("between needs [low, high] with low <= high")
        return self

    @property
    def operator(self) -> str:
        return next(op for op in OPERATORS if getattr(self, op) is not None)

    def test(self, value: float) -> bool:
        """Does `value` meet the comparison? (The Python twin of `sql`.)"""
        if self.exactly is not None:
            return value == self.exactly
        if self.less_than is not None:
            return value < self.less_than
        if self.greater_than is not None:
            return value > self.greater_than
        if self.at_least is not None:
            return value >= self.at_least
        if self.at_most is not None:
            return value <= self.at_most
        assert self.between is not None
        return self.between[0] <= value <= self.between[1]

    def sql(self, expr: ColumnElement[Any]) -> ColumnElement[bool]:
        if self.exactly is not None:
            return expr == self.exactly
        if self.less_than is not None:
            return expr < self.less_than
        if self.greater_than is not None:
            return expr > self.greater_than
        if self.at_least is not None:
            return expr >= self.at_least
        if self.at_most is not None:
            return expr <= self.at_most
        assert self.between is not None
        return and_(expr >= self.between[0], expr <= self.between[1])

    @property
    def meets_zero(self) -> bool:
        return self.test(0)

    def whole_range(self) -> tuple[int | None, int | None] | None:
        """The whole numbers meeting the comparison as an inclusive [low, high] (None =
        unbounded), or None when no whole number does."""
        low: float = -math.inf
        high: float = math.inf
        if self.exactly is not None:
            if self.exactly != int(self.exactly):
                return None
            low = high = self.exactly
        elif self.less_than is not None:
            high = math.ceil(self.less_than) - 1
        elif self.greater_than is not None:
            low = math.floor(self.greater_than) + 1
        elif self.at_least is not None:
            low = math.ceil(self.at_least)
        elif self.at_most is not None:
            high = math.floor(self.at_most)
        else:
            assert self.between is not None
            low, high = math.ceil(self.between[0]), math.floor(self.between[1])
        if low > high:
            return None
        return (
            None if low == -math.inf else int(low),
            None if high == math.inf else int(high),
        )


class Window(Spec):
    """`within`: {days: N}, {from_days_ago: A, to_days_ago: B} or {since: DATE, until: DATE}."""

    days: float | None = None
    from_days_ago: float | None = None
    to_days_ago: float | None = None
    since: date | None = None
    until: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _dates(cls, data: Any) -> Any:
        # YAML gives `since: 2026-01-01` as a date already; a datetime is cut to its date.
        if isinstance(data, dict):
            for key in ("since", "until"):
                if isinstance(data.get(key), datetime):
                    data = {**data, key: data[key].date()}
        return data

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        forms = [
            self.days is not None,
            self.from_days_ago is not None or self.to_days_ago is not None,
            self.since is not None or self.until is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "give one of {days: N}, {from_days_ago: A, to_days_ago: B} "
                "or {since: DATE, until: DATE}"
            )
        if self.days is not None and self.days <= 0:
            raise ValueError("days must be positive")
        if forms[1]:
            if self.from_days_ago is None or self.to_days_ago is None:
                raise ValueError("give both from_days_ago and to_days_ago")
            if self.from_days_ago <= self.to_days_ago:
                raise ValueError("from_days_ago must be larger than to_days_ago")
        if forms[2] and self.since and self.until and self.since > self.until:
            raise ValueError("since must not be after until")
        return self

    def bounds(self, now: datetime, tz: tzinfo) -> tuple[int | None, int]:
        """(after, upto) in unix seconds: a record counts when after < ts <= upto.

        Rolling windows are exact multiples of 24 hours back from now; since/until are whole
        local days in `tz`. Records after now never count.
        """
        now_s = to_epoch(now)
        if self.days is not None:
            return now_s - round(self.days * 86_400), now_s
        if self.from_days_ago is not None and self.to_days_ago is not None:
            return now_s - round(self.from_days_ago * 86_400), now_s - round(
                self.to_days_ago * 86_400
            )
        after = None
        if self.since is not None:
            after = to_epoch(start_of_local_day(self.since, tz)) - 1
        upto = now_s
        if self.until is not None:
            end = to_epoch(start_of_local_day(self.until + timedelta(days=1), tz)) - 1
            upto = min(upto, end)
        return after, upto


def window_sql(column: ColumnElement[Any], bounds: tuple[int | None, int]) -> ColumnElement[bool]:
    after, upto = bounds
    upper = column <= upto
    return upper if after is None else and_(column > after, upper)


def day_bounds(
    days: tuple[int | None, int | None], today: date, tz: tzinfo, direction: int
) -> tuple[int | None, int | None]:
    """Turn an inclusive range of calendar-day differences into [start, end) unix seconds.

    direction -1: days since (the record's local date = today - d);
    direction +1: days until (the record's local date = today + d).
    """
    low, high = days

    def shifted(days: int | None) -> date | None:
        # A day count beyond the calendar (year 1 or 9999) bounds nothing.
        if days is None:
            return None
        try:
            return today + timedelta(days=direction * days)
        except OverflowError:
            return None

    if direction < 0:
        first, last = shifted(high), shifted(low)
    else:
        first, last = shifted(low), shifted(high)
    start = None if first is None else to_epoch(start_of_local_day(first, tz))
    end = None if last is None else to_epoch(start_of_local_day(last + timedelta(days=1), tz))
    return start, end


def range_sql(
    column: ColumnElement[Any], start: int | None, end: int | None
) -> ColumnElement[bool]:
    parts = []
    if start is not None:
        parts.append(column >= start)
    if end is not None:
        parts.append(column < end)
    return and_(*parts) if parts else true()


def today_in(now: datetime, tz: tzinfo) -> date:
    return local_date(now, tz)
