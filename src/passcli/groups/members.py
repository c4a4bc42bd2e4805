"""Members of groups (SPEC §8): adding and removing by hand, listing, and matching the
members added by an email or phone that no customer had yet when such a customer arrives.

Manual and subscription groups keep their members in `group_members`; a membership group's
members are computed from purchases (everyone holding an active purchase of its items), so
they cannot be added or removed by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update

from passcli.errors import NotFoundError, UsageError
from passcli.groups.spec import GroupsFile, ManualGroup, MembershipGroup, SubscriptionGroup
from passcli.importing.fields import FieldError, email, phone
from passcli.segments.compile import ID, SegmentCompiler
from passcli.segments.spec import GroupRef
from passcli.store.schema import customers, group_members

Group = ManualGroup | MembershipGroup | SubscriptionGroup


def find_group(groups: GroupsFile, name: str) -> Group:
    try:
        return groups.groups[name]
    except KeyError:
        raise UsageError(f"unknown group {name!r}") from None


def group_ref(groups: GroupsFile, name: str) -> GroupRef:
    """The `group:` condition for this group, resolved (membership groups: their items)."""
    group = find_group(groups, name)
    return GroupRef(name, tuple(group.items) if isinstance(group, MembershipGroup) else None)


@dataclass
class AddReport:
    """What `group add` did, address by address."""

    group: str
    added: list[dict[str, str]] = field(default_factory=list)  # {"address", "customer_id"}
    pending: list[str] = field(default_factory=list)  # no customer has it yet: kept
    already: list[str] = field(default_factory=list)  # already members (or pending)

    def merge(self, other: AddReport) -> None:
        self.added += other.added
        self.pending += other.pending
        self.already += other.already

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "added": self.added,
            "pending": self.pending,
            "already": self.already,
        }


def normalise_address(raw: str, region: str) -> str:
    """An email (lower case) or a phone number (E.164); UsageError for anything else."""
    value = raw.strip()
    try:
        if "@" in value:
            found = email(value)
        else:
            found = phone(value, region)
    except FieldError as exc:
        raise UsageError(f"{exc} (give an email address or a phone number)") from None
    if not found:
        raise UsageError("an empty address: give an email address or a phone number")
    return found


def customers_with(conn: Connection, address: str) -> list[str]:
    column = customers.c.email if "@" in address else customers.c.phone
    return list(
        conn.execute(
            select(customers.c.id).where(column == address).order_by(customers.c.id)
        ).scalars()
    )


def add_members(
    conn: Connection,
    groups: GroupsFile,
    name: str,
    addresses: Iterable[str],
    *,
    region: str,
    now: datetime,
    source: str = "manual",
) -> AddReport:
    """Add people to a manual or subscription group by email or phone. Every customer with
    that address becomes a member; an address no customer has yet is kept as pending and
    matched when such a customer is imported (`match_pending`). Addresses are all checked
    before anything is written, so a bad one adds nobody."""
    group = find_group(groups, name)
    if isinstance(group, MembershipGroup):
        raise UsageError(
            f"group {name!r} is a membership group: its members are the holders of "
            f"{', '.join(group.items)}; add a purchase instead"
        )
    normalised = list(dict.fromkeys(normalise_address(a, region) for a in addresses))
    report = AddReport(name)
    for address in normalised:
        found = customers_with(conn, address)
        if not found:
            if _pending(conn, name, address):
                report.already.append(address)
            else:
                conn.execute(insert(group_members).values(_row(name, None, address, source, now)))
                report.pending.append(address)
            continue
        before = _member_ids(conn, name, found)
        new = [c for c in found if c not in before]
        if new:
            conn.execute(insert(group_members), [_row(name, c, address, source, now) for c in new])
        report.added += [{"address": address, "customer_id": c} for c in new]
        if not new:
            report.already.append(address)
    return report


def _row(
    name: str, customer_id: str | None, address: str, source: str, at: datetime
) -> dict[str, Any]:
    return {
        "group_name": name,
        "customer_id": customer_id,
        "address": address,
        "source": source,
        "added_at": at,
    }


def _pending(conn: Connection, name: str, address: str) -> bool:
    g = group_members.c
    query = select(g.id).where(g.group_name == name, g.address == address, g.customer_id.is_(None))
    return conn.execute(query).first() is not None


def _member_ids(conn: Connection, name: str, candidates: list[str]) -> set[str]:
    return set(
        conn.execute(
            select(group_members.c.customer_id).where(
                group_members.c.group_name == name, group_members.c.customer_id.in_(candidates)
            )
        ).scalars()
    )


@dataclass
class RemoveReport:
    group: str
    removed: list[str] = field(default_factory=list)  # customer ids, or pending addresses
    not_members: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "removed": self.removed, "not_members": self.not_members}


def remove_members(
    conn: Connection, groups: GroupsFile, name: str, who: Iterable[str], *, region: str
) -> RemoveReport:
    """Remove people from a manual or subscription group, by customer id, or by email or
    phone (every customer with that address, and a pending entry for it)."""
    group = find_group(groups, name)
    if isinstance(group, MembershipGroup):
        raise UsageError(
            f"members of {name!r} cannot be removed by hand: it is a membership group, and "
            f"holding an active purchase of {', '.join(group.items)} is what makes them members"
        )
    report = RemoveReport(name)
    for raw in who:
        value = raw.strip()
        g = group_members.c
        if not _is_customer(conn, value):
            address = _address_or_unknown_id(value, region)
            ids = customers_with(conn, address)
            condition = and_(
                g.group_name == name,
                or_(g.customer_id.in_(ids), and_(g.customer_id.is_(None), g.address == address)),
            )
            label = address
        else:
            condition = and_(g.group_name == name, g.customer_id == value)
            label = value
        removed = conn.execute(delete(group_members).where(condition)).rowcount
        (report.removed if removed else report.not_members).append(label)
    return report


def _address_or_unknown_id(value: str, region: str) -> str:
    """`value`, which is no customer's id, as an email or phone. A value that is neither
    was most likely meant as a customer id: an unknown customer id (exit 1, SPEC §5)."""
    try:
        return normalise_address(value, region)
    except UsageError:
        if "@" in value:
            raise  # meant as an email: a bad one
        raise NotFoundError(
            f"no customer with id {value!r} (and it is not an email or a phone number)"
        ) from None


def _is_customer(conn: Connection, value: str) -> bool:
    return conn.execute(select(customers.c.id).where(customers.c.id == value)).first() is not None


@dataclass(frozen=True)
class GroupSummary:
    name: str
    kind: str
    description: str | None
    members: int
    pending: int
    detail: str  # items, or join keywords


def group_summaries(
    conn: Connection, groups: GroupsFile, now: datetime, tz: tzinfo
) -> list[GroupSummary]:
    result = []
    for name, group in groups.groups.items():
        result.append(
            GroupSummary(
                name,
                group.kind,
                group.description,
                count_members(conn, groups, name, now, tz),
                _count_pending(conn, name),
                _detail(group),
            )
        )
    return result


def _detail(group: Group) -> str:
    if isinstance(group, MembershipGroup):
        return "holders of " + ", ".join(group.items)
    if isinstance(group, SubscriptionGroup):
        words = ", ".join(group.join_keywords)
        return f"{group.channel}; join: {words}" if words else group.channel
    return "added by hand"


def members_ids(groups: GroupsFile, name: str, now: datetime, tz: tzinfo) -> Any:
    """SELECT customer_id of the group's members (the `group:` condition's listing)."""
    compiled = SegmentCompiler({}, now, tz).compile(group_ref(groups, name))
    assert compiled.ids is not None
    return compiled.ids()


def count_members(
    conn: Connection, groups: GroupsFile, name: str, now: datetime, tz: tzinfo
) -> int:
    ids = members_ids(groups, name, now, tz).subquery()
    return int(conn.execute(select(func.count()).select_from(ids)).scalar_one())


def _count_pending(conn: Connection, name: str) -> int:
    g = group_members.c
    query = select(func.count()).where(g.group_name == name, g.customer_id.is_(None))
    return int(conn.execute(query).scalar_one())


MEMBER_COLUMNS = ("id", "email", "phone", "first_name", "last_name")


def list_members(
    conn: Connection, groups: GroupsFile, name: str, now: datetime, tz: tzinfo, limit: int | None
) -> Iterator[dict[str, Any]]:
    """The group's members in customer-id order, with when and how they joined (manual and
    subscription groups)."""
    ids = members_ids(groups, name, now, tz).subquery()
    g = group_members.alias()
    columns = [customers.c[c] for c in MEMBER_COLUMNS]
    query = (
        select(*columns, g.c.added_at, g.c.source)
        .join(ids, ids.c[ID] == customers.c.id)
        .outerjoin(g, and_(g.c.customer_id == customers.c.id, g.c.group_name == name))
        .order_by(customers.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield dict(row._mapping)


def list_pending(conn: Connection, name: str) -> list[dict[str, Any]]:
    g = group_members.c
    query = (
        select(g.address, g.source, g.added_at)
        .where(g.group_name == name, g.customer_id.is_(None))
        .order_by(g.added_at, g.address)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def match_pending_members(conn: Connection) -> int:
    """Give pending members (added by an address no customer had) their customers, now that
    some customer has that email or phone; how many rows were matched. Every customer with
    the address becomes a member; a customer already in the group keeps their own row."""
    g = group_members.c
    # Only the addresses some customer now has: most imports match none of them, and an
    # address that never becomes a customer's must not cost a query per import.
    pending = conn.execute(
        select(g.id, g.group_name, g.address, g.source, g.added_at)
        .where(
            g.customer_id.is_(None),
            or_(
                exists().where(customers.c.email == g.address),
                exists().where(customers.c.phone == g.address),
            ),
        )
        .order_by(g.id)
    ).all()
    matched = 0
    for row in pending:
        found = customers_with(conn, row.address)
        first, *others = found
        if first in _member_ids(conn, row.group_name, [first]):
            conn.execute(delete(group_members).where(g.id == row.id))
        else:
            conn.execute(update(group_members).where(g.id == row.id).values(customer_id=first))
        others = [c for c in others if c not in _member_ids(conn, row.group_name, others)]
        if others:
            conn.execute(
                insert(group_members),
                [_row(row.group_name, c, row.address, row.source, row.added_at) for c in others],
            )
        matched += 1
    return matched
