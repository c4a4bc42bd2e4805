"""What `offer list` and `offer show` report: uses of offers, by calendar period, and the
customers behind them. Counts are over every recorded use (as the limit counts them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Select, case, distinct, func, or_, select, union

from passcli.errors import UsageError
from passcli.groups.spec import GroupsFile, OfferSpec
from passcli.offers.periods import PERIODS
from passcli.offers.usage import Period, current_period, find_offer, group_ref, period_of
from passcli.segments.compile import SegmentCompiler
from passcli.store.schema import customers, offer_uses

DEFAULT_PERIODS = 12


@dataclass(frozen=True)
class Uses:
    """Uses (attendees summed), redemptions (recorded uses) and distinct customers."""

    uses: int = 0
    redemptions: int = 0
    customers: int = 0


@dataclass(frozen=True)
class PeriodUses:
    period: Period
    uses: Uses


@dataclass(frozen=True)
class OfferSummary:
    """One offer of `offer list`."""

    name: str
    spec: OfferSpec
    total: Uses


@dataclass(frozen=True)
class OfferReport:
    """`offer show`: the offer, its uses in each of the latest periods (the current one
    last), in all, how many customers may use it now, and how many have no use left in the
    limit's current period (None without a limit)."""

    name: str
    spec: OfferSpec
    at: datetime
    per: str
    periods: list[PeriodUses]
    total: Uses
    eligible_customers: int
    at_limit: int | None


def offer_summaries(conn: Connection, groups_file: GroupsFile) -> list[OfferSummary]:
    """Every offer of groups.yaml, in file order, with its uses in all."""
    if not groups_file.offers:
        return []
    u = offer_uses.c
    rows = conn.execute(
        select(u.offer, *_aggregates())
        .where(u.offer.in_(list(groups_file.offers)))
        .group_by(u.offer)
    )
    totals = {row.offer: _uses(row) for row in rows}
    return [
        OfferSummary(name, spec, totals.get(name, Uses()))
        for name, spec in groups_file.offers.items()
    ]


def offer_report(
    conn: Connection,
    groups_file: GroupsFile,
    name: str,
    now: datetime,
    tz: tzinfo,
    per: str | None = None,
    periods: int = DEFAULT_PERIODS,
) -> OfferReport:
    """The offer's uses in the `periods` latest calendar periods of `per` (default: its limit's
    period; `ever`, one total, when it has none), the current one last."""
    offer = find_offer(groups_file, name)
    if per is None:
        per = offer.usage_limit.per if offer.usage_limit is not None else "ever"
    if per not in PERIODS:
        raise UsageError(f"--per must be one of {', '.join(PERIODS)}, not {per!r}")
    shown = latest_periods(per, now, tz, periods)
    u = offer_uses.c
    total = _uses(conn.execute(select(*_aggregates()).where(u.offer == name)).one())
    return OfferReport(
        name=name,
        spec=offer,
        at=now,
        per=per,
        periods=_by_period(conn, name, shown),
        total=total,
        eligible_customers=_eligible(conn, groups_file, offer, now, tz),
        at_limit=_at_limit(conn, name, offer, now, tz),
    )


def latest_periods(per: str, now: datetime, tz: tzinfo, count: int) -> list[Period]:
    """The `count` calendar periods of `per` up to the one holding now, oldest first."""
    if per == "ever":
        return [period_of("ever", now, tz)]
    found: list[Period] = []
    instant = now
    for _ in range(max(count, 1)):
        period = period_of(per, instant, tz)
        found.append(period)
        assert period.start is not None
        instant = period.start - timedelta(seconds=1)
    return found[::-1]


def _aggregates() -> list[Any]:
    u = offer_uses.c
    return [
        func.coalesce(func.sum(u.attendees), 0).label("uses"),
        func.count().label("redemptions"),
        func.count(distinct(u.customer_id)).label("customers"),
    ]


def _uses(row: Any) -> Uses:
    return Uses(int(row.uses), int(row.redemptions), int(row.customers))


def _by_period(conn: Connection, name: str, shown: list[Period]) -> list[PeriodUses]:
    u = offer_uses.c
    if shown[0].start is None:
        row = conn.execute(select(*_aggregates()).where(u.offer == name)).one()
        return [PeriodUses(shown[0], _uses(row))]
    # Each use's period, newest first in the CASE (most uses are recent), computed in a
    # subquery: PostgreSQL would not match a GROUP BY CASE whose bounds are bound parameters.
    newest_first = list(enumerate(shown))[::-1]
    bucket = case(*((u.used_at >= p.start, index) for index, p in newest_first))
    last = shown[-1].end
    assert shown[0].start is not None and last is not None
    tagged = (
        select(bucket.label("period"), u.attendees, u.customer_id)
        .where(u.offer == name, u.used_at >= shown[0].start, u.used_at < last)
        .subquery()
    )
    rows = conn.execute(
        select(
            tagged.c.period,
            func.sum(tagged.c.attendees).label("uses"),
            func.count().label("redemptions"),
            func.count(distinct(tagged.c.customer_id)).label("customers"),
        ).group_by(tagged.c.period)
    )
    found = {int(row.period): _uses(row) for row in rows}
    return [PeriodUses(p, found.get(index, Uses())) for index, p in enumerate(shown)]


def _eligible(
    conn: Connection, groups_file: GroupsFile, offer: OfferSpec, now: datetime, tz: tzinfo
) -> int:
    """How many customers are in one of the offer's groups now (all, when it names none)."""
    if not offer.groups:
        return int(conn.execute(select(func.count()).select_from(customers)).scalar_one())
    compiler = SegmentCompiler({}, now, tz)
    parts = [compiler.compile(group_ref(groups_file, g)) for g in offer.groups]
    listings: list[Select[Any]] = []
    for part in parts:
        if part.ids is None:  # pragma: no cover - every group condition lists its ids
            query = select(func.count()).select_from(customers)
            tests = [p.test(customers.c.id) for p in parts]
            return int(conn.execute(query.where(or_(*tests))).scalar_one())
        listings.append(part.ids())
    members = listings[0] if len(listings) == 1 else union(*listings)
    return int(conn.execute(select(func.count()).select_from(members.subquery())).scalar_one())


def _at_limit(
    conn: Connection, name: str, offer: OfferSpec, now: datetime, tz: tzinfo
) -> int | None:
    """How many customers have no use left in the limit's current period."""
    if offer.usage_limit is None:
        return None
    period = current_period(offer, now, tz)
    u = offer_uses.c
    query = select(u.customer_id).where(u.offer == name)
    if period.start is not None and period.end is not None:
        query = query.where(u.used_at >= period.start, u.used_at < period.end)
    spent = (
        query.group_by(u.customer_id)
        .having(func.sum(u.attendees) >= offer.usage_limit.uses)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(spent)).scalar_one())
