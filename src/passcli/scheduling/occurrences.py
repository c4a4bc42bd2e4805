"""Pure schedule arithmetic: which occurrences a schedule has, and when each is due.

Schedule times are wall times in a zone. `every` in minutes or hours is an exact duration
from the start instant; in days or weeks it keeps the wall-clock time across DST changes. A
wall time that does not exist that day (a spring-forward gap) moves forward by the gap; one
that occurs twice (fall back) takes the first. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from passcli.messages.spec import Schedule
from passcli.timeutil import iso_utc

UNIT_SECONDS = {"minute": 60, "hour": 3600}
UNIT_DAYS = {"day": 1, "week": 7}


def resolve(wall: datetime, tz: tzinfo) -> datetime:
    """A naive wall time in `tz` as an aware UTC instant.

    fold=0 (PEP 495) maps a time in a gap with the offset before the transition, which lands
    exactly "forward by the gap" (02:30 on a spring-forward night is 03:30), and a repeated
    time to its first occurrence.
    """
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


@dataclass(frozen=True, order=True)
class Slot:
    """One occurrence: its index, its wall time in the schedule's zone, and its label.

    For ordinary schedules the label is the UTC instant (`2026-11-22T16:00:00Z`); for
    `local_time` schedules it is the wall time itself (`2026-11-22T09:00`), due at that wall
    time in each customer's zone.
    """

    index: int
    wall: datetime
    label: str


def wall_label(wall: datetime) -> str:
    return wall.strftime("%Y-%m-%dT%H:%M")


class Occurrences:
    """The occurrences of one schedule in one zone."""

    def __init__(self, schedule: Schedule, tz: tzinfo) -> None:
        self.schedule = schedule
        self.tz = tz

    @property
    def local_time(self) -> bool:
        return self.schedule.local_time

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.schedule.misfire_grace.seconds)

    def _count(self) -> int | None:
        """How many occurrences there are (None: unbounded)."""
        if self.schedule.at is not None:
            return 1
        return None if self.schedule.resends is None else self.schedule.resends + 1

    def wall_of(self, index: int) -> datetime:
        """The wall time of occurrence `index` in the schedule's zone."""
        s = self.schedule
        if s.at is not None:
            return s.at
        assert s.start is not None
        count, unit = s.interval
        if unit in UNIT_DAYS:
            return s.start + timedelta(days=count * UNIT_DAYS[unit] * index)
        instant = resolve(s.start, self.tz) + timedelta(seconds=count * UNIT_SECONDS[unit] * index)
        return instant.astimezone(self.tz).replace(tzinfo=None)

    def instant_of(self, index: int, tz: tzinfo | None = None) -> datetime:
        """When occurrence `index` is due (in `tz` for local-time schedules)."""
        s = self.schedule
        if s.every is not None and s.interval[1] in UNIT_SECONDS and tz is None:
            assert s.start is not None
            count, unit = s.interval
            start = resolve(s.start, self.tz)
            return start + timedelta(seconds=count * UNIT_SECONDS[unit] * index)
        return resolve(self.wall_of(index), tz or self.tz)

    def slot(self, index: int) -> Slot:
        wall = self.wall_of(index)
        label = wall_label(wall) if self.local_time else iso_utc(self.instant_of(index))
        return Slot(index, wall, label)

    def _exists(self, index: int) -> bool:
        count = self._count()
        return index >= 0 and (count is None or index < count)

    def latest_index_at(self, when: datetime, tz: tzinfo | None = None) -> int | None:
        """The index of the last occurrence due at or before `when` (None: none yet)."""
        if not self._exists(0) or self.instant_of(0, tz) > when:
            return None
        low, high = 0, self._bounded_high(when, tz)
        while low < high:  # the largest index whose instant <= when
            middle = (low + high + 1) // 2
            if self.instant_of(middle, tz) <= when:
                low = middle
            else:
                high = middle - 1
        return low

    def _bounded_high(self, when: datetime, tz: tzinfo | None) -> int:
        count = self._count()
        if self.schedule.at is not None:
            return 0
        quantum, unit = self.schedule.interval
        seconds = quantum * (UNIT_SECONDS.get(unit) or UNIT_DAYS[unit] * 86_400)
        span = (when - self.instant_of(0, tz)).total_seconds()
        guess = int(span // seconds) + 2  # DST shifts move walls by an hour at most
        return guess if count is None else min(guess, count - 1)

    def due(self, when: datetime, tz: tzinfo | None = None) -> Slot | None:
        """The latest occurrence due at or before `when`."""
        index = self.latest_index_at(when, tz)
        return None if index is None else self.slot(index)

    def between(self, after: datetime, until: datetime, tz: tzinfo | None = None) -> Iterator[Slot]:
        """Occurrences due in (after, until], oldest first."""
        last = self.latest_index_at(until, tz)
        if last is None:
            return
        first = self.latest_index_at(after, tz)
        start = 0 if first is None else first + 1
        for index in range(start, last + 1):
            yield self.slot(index)

    def upcoming(self, after: datetime, count: int) -> list[Slot]:
        """The next `count` occurrences due after `after`."""
        index = self.latest_index_at(after)
        start = 0 if index is None else index + 1
        return [self.slot(i) for i in range(start, start + count) if self._exists(i)]
