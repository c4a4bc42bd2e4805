"""The fixed instant the examples are built around, and fast second-based time helpers.

Generation works on integer unix seconds: it is several times faster than datetime arithmetic,
and "a day" in a rolling window is exactly 86,400 s, as SPEC §3 defines it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

TIMEZONE = "America/Denver"
"""The example organisation's PASSCLI_TIMEZONE: calendar days are read in it."""

ZONE = ZoneInfo(TIMEZONE)

# A fixed offset rather than the ZoneInfo: arithmetic on it (now - timedelta(days=90)) is then
# exact elapsed time, which is what rolling windows mean, instead of wall-clock arithmetic.
REFERENCE_NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone(timedelta(hours=-7)))
"""The instant the examples are built around: 2026-11-22T10:00:00-07:00 (17:00Z)."""

NOW_TS = int(REFERENCE_NOW.timestamp())
DAY = 86_400
HOUR = 3_600
MINUTE = 60

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Clock:
    """Formats unix seconds as ISO-8601 `Z` strings and reads org-local wall-clock times.

    Day strings are memoised, so formatting costs a dict look-up and one f-string.
    """

    def __init__(self, zone: ZoneInfo = ZONE) -> None:
        self._zone = zone
        self._days: dict[int, str] = {}

    def iso(self, ts: int) -> str:
        """`2026-11-22T17:00:00Z` for a unix second."""
        day, rest = divmod(ts, DAY)
        text = self._days.get(day)
        if text is None:
            text = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
            self._days[day] = text
        hour, rest = divmod(rest, HOUR)
        minute, second = divmod(rest, MINUTE)
        return f"{text}T{hour:02d}:{minute:02d}:{second:02d}Z"

    def local(self, text: str) -> int:
        """Unix seconds of a local wall-clock time written `YYYY-MM-DD HH:MM[:SS]`."""
        naive = datetime.fromisoformat(text)
        return int(naive.replace(tzinfo=self._zone).timestamp())
