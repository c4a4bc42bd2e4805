"""Quiet hours (SPEC §11): whether a customer's local clock is inside them, and when they end.

Each customer is judged in their own time zone (PASSCLI_TIMEZONE when they have none). The
window includes its start and excludes its end; an end before the start crosses midnight
(21:00-08:00). A send inside the window is held until the next end: the first instant the
customer's clock reads `end` again, resolved like schedule times across DST (an end that
does not exist that day, in a spring-forward gap, moves forward by the gap; a repeated one
takes the first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from passcli.policy.spec import QuietHours
from passcli.scheduling.occurrences import resolve
from passcli.timeutil import zone


@dataclass
class QuietClock:
    """The quiet hours of a policy, and the organisation's zone for customers without one.
    Answers are cached per zone: a send's customers share few zones."""

    hours: QuietHours
    fallback: tzinfo
    _cache: dict[tuple[str | None, str], datetime | None] = field(default_factory=dict)

    def applies_to(self, channel: str) -> bool:
        return channel in self.hours.channels

    def held_until(self, zone_name: str | None, channel: str, now: datetime) -> datetime | None:
        """When a send to a customer in `zone_name` at `now` may go out: None when it may go
        now, else the end of their quiet hours."""
        if not self.applies_to(channel):
            return None
        key = (zone_name, now.isoformat())
        if key not in self._cache:
            self._cache[key] = quiet_until(self.hours, self._zone(zone_name), now)
        return self._cache[key]

    def _zone(self, name: str | None) -> tzinfo:
        if not name:
            return self.fallback
        try:
            return zone(name)
        except ValueError:
            return self.fallback


def quiet_until(hours: QuietHours, tz: tzinfo, now: datetime) -> datetime | None:
    """The end of the quiet hours `now` is inside, in zone `tz`, or None outside them."""
    local = now.astimezone(tz)
    if not hours.contains(local.time().replace(tzinfo=None)):
        return None
    day = local.date()
    for offset in (0, 1):
        end = resolve(datetime.combine(day + timedelta(days=offset), hours.end), tz)
        if end > now:
            return end.astimezone(UTC)
    raise AssertionError("quiet hours last less than a day")  # pragma: no cover
