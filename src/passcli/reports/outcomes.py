"""Counts shared by the message and journey reports, and sends per day."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from passcli.timeutil import local_date


@dataclass
class Outcomes:
    """What happened to one occurrence (or all of them): SPEC §5's counts, plus what followed.

    `audience`, `skipped` and `held` come from the occurrence's recorded counts (skips leave
    no ledger row); `sent`, `failed` and `pending` from the ledger itself. `conversions` is
    None when no conversion is defined."""

    audience: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"email": 0, "sms": 0})
    failed: int = 0
    pending: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    held: int = 0
    unsubscribes: dict[str, int] = field(default_factory=lambda: {"email": 0, "sms": 0})
    conversions: int | None = None

    @property
    def sent_total(self) -> int:
        return sum(self.sent.values())

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per delivery sent, or None (no conversion defined, nothing sent)."""
        if self.conversions is None or not self.sent_total:
            return None
        return self.conversions / self.sent_total

    def add(self, other: Outcomes) -> None:
        self.audience += other.audience
        for channel, count in other.sent.items():
            self.sent[channel] = self.sent.get(channel, 0) + count
        self.failed += other.failed
        self.pending += other.pending
        self.skipped.update(other.skipped)
        self.held += other.held
        for channel, count in other.unsubscribes.items():
            self.unsubscribes[channel] = self.unsubscribes.get(channel, 0) + count
        if other.conversions is not None:
            self.conversions = (self.conversions or 0) + other.conversions


@dataclass(frozen=True)
class DaySends:
    day: date  # in PASSCLI_TIMEZONE
    email: int
    sms: int


def per_day(rows: Iterable[tuple[datetime, str, int]], tz: tzinfo) -> list[DaySends]:
    """(sent_at, channel, count) rows as sends per local day, every day from the first to the
    last (days without sends too, so a chart's axis is even)."""
    days: dict[date, Counter[str]] = {}
    for at, channel, count in rows:
        days.setdefault(local_date(at, tz), Counter())[channel] += int(count)
    if not days:
        return []
    first, last = min(days), max(days)
    result = []
    for offset in range((last - first).days + 1):
        day = date.fromordinal(first.toordinal() + offset)
        counts = days.get(day, Counter())
        result.append(DaySends(day, counts["email"], counts["sms"]))
    return result
