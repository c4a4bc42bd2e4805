"""Instants, local dates and windows.

passcli stores every instant as integer UTC seconds and reasons about calendar days in a
time zone (PASSCLI_TIMEZONE or a customer's own). Everything here is pure: `now` is always
an argument.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "UTC",
    "InvalidTimestamp",
    "from_epoch",
    "iso_utc",
    "local_date",
    "parse_instant",
    "start_of_local_day",
    "to_epoch",
    "zone",
]


class InvalidTimestamp(ValueError):
    """A timestamp that is not ISO-8601."""


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_instant(text: str, tz: tzinfo) -> datetime:
    """Parse ISO-8601; a value without offset is wall time in `tz`. Returns an aware UTC instant."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidTimestamp(f"not an ISO-8601 timestamp: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def to_epoch(value: datetime) -> int:
    """Aware datetime -> integer UTC seconds (sub-second precision is floored)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: passcli only handles aware instants")
    return int(value.timestamp() // 1)


def from_epoch(seconds: int) -> datetime:
    """Integer UTC seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def iso_utc(value: datetime) -> str:
    """An instant as `2026-11-22T16:30:00Z`, the form of every instant in --json output."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_date(value: datetime, tz: tzinfo) -> date:
    """The calendar date of an instant in a zone."""
    return value.astimezone(tz).date()


def start_of_local_day(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which `day` starts in `tz` (the first existing wall time that day)."""
    # A midnight inside a DST gap (America/Santiago, ...) is read with the offset before the
    # gap (fold=0), which is exactly the instant the day's first existing wall time begins.
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)
