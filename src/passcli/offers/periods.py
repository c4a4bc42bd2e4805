"""Calendar periods of offer usage limits (SPEC §9): day, week (from Monday), month, year in
the organisation's time zone, or ever. Pure functions of an instant and a zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from passcli.timeutil import local_date, start_of_local_day

PERIODS = ("day", "week", "month", "year", "ever")


def period_start_day(day: date, per: str) -> date:
    """The first local day of the period of `per` holding `day`."""
    if per == "day":
        return day
    if per == "week":
        return day - timedelta(days=day.weekday())
    if per == "month":
        return day.replace(day=1)
    if per == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"no calendar period {per!r}")


def next_period_day(first: date, per: str) -> date:
    """The first local day of the period after the one starting on `first`."""
    if per == "day":
        return first + timedelta(days=1)
    if per == "week":
        return first + timedelta(days=7)
    if per == "month":
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    if per == "year":
        return date(first.year + 1, 1, 1)
    raise ValueError(f"no calendar period {per!r}")


def period_bounds(now: datetime, tz: tzinfo, per: str) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the period holding `now`, as aware instants; (None, None) for `ever`.
    Bounds are local midnights, so a day of a DST change is 23 or 25 hours long."""
    if per == "ever":
        return None, None
    first = period_start_day(local_date(now, tz), per)
    return start_of_local_day(first, tz), start_of_local_day(next_period_day(first, per), tz)


def period_label(start: datetime, tz: tzinfo, per: str) -> str:
    """How `offer show` names a period: 2026-11-23, 2026-W48, 2026-11, 2026, or ever."""
    if per == "ever":
        return "ever"
    day = local_date(start, tz)
    if per == "day":
        return day.isoformat()
    if per == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if per == "month":
        return f"{day.year}-{day.month:02d}"
    return str(day.year)
