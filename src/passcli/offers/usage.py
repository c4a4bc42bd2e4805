"""May this customer use this offer now, and recording a use (SPEC §9).

A use with N attendees counts N against the offer's usage limit, which is per customer and
per calendar period (offers/periods.py). `redeem_offer` counts and records in one write
transaction that no other redeem of the same customer can interleave with:

- SQLite: the transaction begins IMMEDIATE (store.write_transaction), so writers take turns
  and each counts what the previous ones committed.
- PostgreSQL: the transaction runs at READ COMMITTED and first locks the customer's row
  (SELECT ... FOR NO KEY UPDATE). A second redeem for that customer waits on the lock until
  the first commits or rolls back; its next statement (the count) takes a fresh snapshot, so
  it sees the first one's use. Other customers' redeems do not wait, and FOR NO KEY UPDATE
  does not block imports writing rows that reference the customer.

Offer commands count every recorded use of a period, whatever --now says, so a limit holds
in whatever order uses are recorded; the `offer` segment condition, like every condition,
counts only uses up to now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import Connection, Engine, String, func, insert, literal, or_, select

from passcli.errors import NotFoundError, OfferRefused, UsageError
from passcli.groups.spec import GroupsFile, MembershipGroup, OfferSpec, UsageLimit
from passcli.offers.periods import period_bounds, period_label
from passcli.segments.compile import SegmentCompiler, Test
from passcli.segments.spec import GroupRef
from passcli.store import write_transaction
from passcli.store.schema import customers, offer_uses
from passcli.yamlpos import did_you_mean

# Why a customer may not use an offer, in the order they are checked.
REASONS = ("disabled", "not_in_group", "too_many_attendees", "limit_reached")

PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month", "year": "this year"}


@dataclass(frozen=True)
class Period:
    """The calendar period a limit counts in: [start, end) in the organisation's zone;
    `ever` (start and end None) for a lifetime limit or an unlimited offer."""

    per: str
    label: str
    start: datetime | None
    end: datetime | None

    @property
    def phrase(self) -> str:
        """`this month (2026-11)`, or '' for ever."""
        word = PERIOD_WORDS.get(self.per)
        return f"{word} ({self.label})" if word else ""


@dataclass(frozen=True)
class OfferCheck:
    """Whether `customer_id` may use `offer` with `attendees` now, and the uses of the current
    period. `reason` (one of REASONS) and `message` (one sentence) say why not."""

    offer: str
    customer_id: str
    at: datetime
    attendees: int
    max_attendees: int
    limit: UsageLimit | None
    period: Period
    used: int
    remaining: int | None  # None: no limit
    reason: str | None = None
    message: str | None = None

    @property
    def eligible(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Redemption:
    """One recorded use; `used` and `remaining` include it."""

    use_id: int
    offer: str
    customer_id: str
    at: datetime
    attendees: int
    max_attendees: int
    limit: UsageLimit | None
    period: Period
    used: int
    remaining: int | None


def find_offer(groups_file: GroupsFile, name: str) -> OfferSpec:
    """The offer called `name`; an unknown name is bad usage (exit 2)."""
    try:
        return groups_file.offers[name]
    except KeyError:
        if not groups_file.offers:
            raise UsageError(f"unknown offer {name!r} (groups.yaml declares no offers)") from None
        hint = did_you_mean(name, groups_file.offers)
        raise UsageError(f"unknown offer {name!r}{hint}") from None


def current_period(offer: OfferSpec, now: datetime, tz: tzinfo) -> Period:
    """The period the offer's limit counts in at `now` (`ever` without a limit)."""
    per = offer.usage_limit.per if offer.usage_limit is not None else "ever"
    return period_of(per, now, tz)


def period_of(per: str, now: datetime, tz: tzinfo) -> Period:
    start, end = period_bounds(now, tz, per)
    label = period_label(start, tz, per) if start is not None else "ever"
    return Period(per, label, start, end)


def check_offer(
    conn: Connection,
    groups_file: GroupsFile,
    name: str,
    customer_id: str,
    now: datetime,
    tz: tzinfo,
    attendees: int = 1,
) -> OfferCheck:
    """Whether the customer may use the offer now with `attendees` people (the holder
    included), and how many uses of the current period are used and left.

    UsageError for an unknown offer or fewer than 1 attendee; NotFoundError for an unknown
    customer. Reads only; `redeem_offer` repeats the check under a lock before recording."""
    offer = find_offer(groups_file, name)
    _require_attendees(attendees)
    return _check(conn, groups_file, name, offer, customer_id, now, tz, attendees, lock=False)


def redeem_offer(
    engine: Engine,
    groups_file: GroupsFile,
    name: str,
    customer_id: str,
    now: datetime,
    tz: tzinfo,
    attendees: int = 1,
) -> Redemption:
    """Record one use of the offer by the customer at `now`, for `attendees` people.

    Refused with OfferRefused (nothing recorded) when `check_offer` would say no; at most
    the limit is ever recorded in a period, however many redeem at once (module docstring)."""
    offer = find_offer(groups_file, name)
    _require_attendees(attendees)
    with write_transaction(_read_committed(engine)) as conn:
        check = _check(conn, groups_file, name, offer, customer_id, now, tz, attendees, lock=True)
        if not check.eligible:
            raise OfferRefused(check)
        result = conn.execute(
            insert(offer_uses).values(
                offer=name, customer_id=customer_id, attendees=attendees, used_at=now
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        use_id = int(key[0])
    remaining = None if check.remaining is None else check.remaining - attendees
    return Redemption(
        use_id=use_id,
        offer=name,
        customer_id=customer_id,
        at=now,
        attendees=attendees,
        max_attendees=check.max_attendees,
        limit=check.limit,
        period=check.period,
        used=check.used + attendees,
        remaining=remaining,
    )


def _read_committed(engine: Engine) -> Engine:
    """PostgreSQL: READ COMMITTED whatever the server's default, since the lock-then-count
    protocol needs each statement to see what committed before it (under REPEATABLE READ the
    count would use the snapshot taken before the lock was granted)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="READ COMMITTED")
    return engine


def _require_attendees(attendees: int) -> None:
    if attendees < 1:
        raise UsageError(f"attendees must be at least 1 (the holder), not {attendees}")


def _check(
    conn: Connection,
    groups_file: GroupsFile,
    name: str,
    offer: OfferSpec,
    customer_id: str,
    now: datetime,
    tz: tzinfo,
    attendees: int,
    lock: bool,
) -> OfferCheck:
    found = select(customers.c.id).where(customers.c.id == customer_id)
    if lock:
        # FOR NO KEY UPDATE on PostgreSQL; SQLite renders no locking clause (the transaction
        # already holds the database's write lock).
        found = found.with_for_update(key_share=True)
    if conn.execute(found).first() is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    period = current_period(offer, now, tz)
    used = used_in(conn, name, customer_id, period)
    limit = offer.usage_limit
    remaining = None if limit is None else max(limit.uses - used, 0)
    reason, message = _refusal(
        conn, groups_file, name, offer, customer_id, now, tz, attendees, period, remaining
    )
    return OfferCheck(
        offer=name,
        customer_id=customer_id,
        at=now,
        attendees=attendees,
        max_attendees=offer.attendees.max,
        limit=limit,
        period=period,
        used=used,
        remaining=remaining,
        reason=reason,
        message=message,
    )


def _refusal(
    conn: Connection,
    groups_file: GroupsFile,
    name: str,
    offer: OfferSpec,
    customer_id: str,
    now: datetime,
    tz: tzinfo,
    attendees: int,
    period: Period,
    remaining: int | None,
) -> tuple[str | None, str | None]:
    """The first reason (REASONS order) the customer may not use the offer, and its sentence."""
    if not offer.enabled:
        return "disabled", f"offer {name!r} is disabled"
    if not in_offer_groups(conn, groups_file, offer, customer_id, now, tz):
        names = ", ".join(repr(group) for group in offer.groups)
        which = f"group {names}" if len(offer.groups) == 1 else f"any of the groups {names}"
        return "not_in_group", f"customer {customer_id!r} is not in {which} of offer {name!r}"
    most = offer.attendees.max
    if attendees > most:
        people = "attendee" if most == 1 else "attendees"
        return (
            "too_many_attendees",
            f"offer {name!r} admits at most {most} {people} per use, the holder included, "
            f"not {attendees}",
        )
    if remaining is not None and attendees > remaining:
        assert offer.usage_limit is not None
        when = f" {period.phrase}" if period.phrase else ""
        if remaining == 0:
            total = offer.usage_limit.uses
            return (
                "limit_reached",
                f"customer {customer_id!r} has used all {total} use{_s(total)} of offer "
                f"{name!r}{when}",
            )
        return (
            "limit_reached",
            f"customer {customer_id!r} has {remaining} use{_s(remaining)} of offer {name!r} "
            f"left{when}, not enough for {attendees} attendees",
        )
    return None, None


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def in_offer_groups(
    conn: Connection,
    groups_file: GroupsFile,
    offer: OfferSpec,
    customer_id: str,
    now: datetime,
    tz: tzinfo,
) -> bool:
    """Whether the customer is a member of one of the offer's groups now (an offer that
    names no groups is open to every customer)."""
    if not offer.groups:
        return True
    outer = literal(customer_id, String)
    tests = [group_test(groups_file, group, now, tz)(outer) for group in offer.groups]
    return bool(conn.execute(select(or_(*tests))).scalar())


def group_test(groups_file: GroupsFile, group: str, now: datetime, tz: tzinfo) -> Test:
    """The segment compiler's membership test of `group` (a function of a customer-id column):
    holders of an active purchase for membership groups, `group_members` rows otherwise."""
    return SegmentCompiler({}, now, tz).compile(group_ref(groups_file, group)).test


def group_ref(groups_file: GroupsFile, group: str) -> GroupRef:
    spec = groups_file.groups.get(group)
    if spec is None:
        raise UsageError(f"an offer names unknown group {group!r}")
    items = tuple(spec.items) if isinstance(spec, MembershipGroup) else None
    return GroupRef(group, items)


def used_in(conn: Connection, name: str, customer_id: str, period: Period) -> int:
    """The customer's uses of the offer in the period (attendees summed), every recorded
    use of it counted."""
    u = offer_uses.c
    query = select(func.coalesce(func.sum(u.attendees), 0)).where(
        u.offer == name, u.customer_id == customer_id
    )
    if period.start is not None and period.end is not None:
        query = query.where(u.used_at >= period.start, u.used_at < period.end)
    return int(conn.execute(query).scalar_one())
