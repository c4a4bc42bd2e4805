"""Fixtures for offer tests: a tiny store factory (`Shop`) and groups.yaml documents as data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from passcli.groups.spec import GroupsFile, parse_groups
from passcli.segments.spec import Problem
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import customers, group_members, items, offer_uses, purchases
from passcli.timeutil import UTC

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)

GROUPS = {
    "members": {"kind": "membership", "items": ["annual-membership"]},
    "vip": {"kind": "manual"},
    "loyalty": {"kind": "subscription", "join_keywords": ["LOYALTY"]},
}


def groups_file(offers: Mapping[str, Any], groups: Mapping[str, Any] = GROUPS) -> GroupsFile:
    """A groups.yaml document (as Python data) parsed; fails on any problem."""
    problems: list[Problem] = []
    parsed = parse_groups({"groups": dict(groups), "offers": dict(offers)}, problems)
    assert problems == []
    return parsed


class Shop:
    """Customers, membership purchases, manual group members and recorded offer uses,
    written straight into a migrated store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ids = count(1)
        self.items: set[str] = set()

    def customer(self, *ids: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(customers),
                [
                    {
                        "id": customer_id,
                        "email": f"{customer_id}@example.com",
                        "email_opt_in": True,
                        "sms_opt_in": False,
                        "attributes": {},
                    }
                    for customer_id in ids
                ],
            )

    def purchase(
        self,
        customer_id: str,
        item: str = "annual-membership",
        purchased_at: datetime = LONG_AGO,
        expires_at: datetime | None = None,
        status: str = "active",
    ) -> None:
        with write_transaction(self.engine) as conn:
            if item not in self.items:
                conn.execute(insert(items).values(id=item, name=item, kind="membership"))
                self.items.add(item)
            conn.execute(
                insert(purchases).values(
                    id=f"p{next(self.ids)}",
                    customer_id=customer_id,
                    item=item,
                    purchased_at=purchased_at,
                    expires_at=expires_at,
                    status=status,
                )
            )

    def member(self, group: str, *customer_ids: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(group_members),
                [
                    {
                        "group_name": group,
                        "customer_id": customer_id,
                        "address": f"{customer_id}@example.com",
                        "source": "manual",
                        "added_at": LONG_AGO,
                    }
                    for customer_id in customer_ids
                ],
            )

    def use(self, offer: str, customer_id: str, at: datetime, attendees: int = 1) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(offer_uses).values(
                    offer=offer, customer_id=customer_id, attendees=attendees, used_at=at
                )
            )

    def uses(self, offer: str | None = None) -> list[tuple[str, str, int, datetime]]:
        """Every recorded use: (offer, customer, attendees, used_at), in order."""
        u = offer_uses.c
        query = select(u.offer, u.customer_id, u.attendees, u.used_at).order_by(u.id)
        if offer is not None:
            query = query.where(u.offer == offer)
        with read_transaction(self.engine) as conn:
            return [tuple(row) for row in conn.execute(query)]


@pytest.fixture
def shop(engine: Engine) -> Shop:
    return Shop(engine)
