"""Fixtures for segment tests: a tiny store factory and a three-way membership check.

`World` writes customers, items, purchases, redemptions and events straight into a migrated
store (event_numbers rows included, as the importer writes them). `World.members` evaluates a
segment three ways through the compiler — the listing query (`query`), the membership test
over `customers` (`contains(name, customers.id)`) and the correlated probe used by `customer
show` (`contains` on an aliased id) — and through the reference evaluator, and returns all four.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select

from passcli.segments.compile import SegmentCompiler
from passcli.segments.reference import Snapshot, evaluate
from passcli.segments.spec import Problem, SegmentSpec, parse_segments
from passcli.store import write_transaction
from passcli.store.schema import (
    customers,
    event_numbers,
    events,
    items,
    purchases,
    redemptions,
)

TABLES_CHILD_FIRST = (event_numbers, events, redemptions, purchases, items, customers)


def segments_of(document: Mapping[str, Any]) -> dict[str, SegmentSpec]:
    """Parse a segments.yaml document (as Python data); fail on any problem."""
    problems: list[Problem] = []
    specs = parse_segments(document, problems)
    assert problems == []
    return specs


def single(*conditions: Any, match: str = "all", **others: Any) -> dict[str, SegmentSpec]:
    """A file whose segment `s` has these conditions; `others` are more segments by name."""
    body: dict[str, Any] = {"s": {"match": match, "conditions": list(conditions)}}
    for name, value in others.items():
        body[name.replace("_", "-")] = (
            value if isinstance(value, dict) else {"conditions": list(value)}
        )
    return segments_of({"segments": body})


@dataclass(frozen=True)
class Members:
    """A segment's members by each evaluation path."""

    listed: list[str]
    tested: set[str]
    probed: set[str]
    reference: set[str]

    @property
    def compiled(self) -> set[str]:
        """The compiled members, once every compiled path has agreed."""
        assert sorted(self.listed) == sorted(set(self.listed)), "a member is listed twice"
        assert set(self.listed) == self.tested == self.probed, (
            f"compiled paths disagree: query={sorted(self.listed)} "
            f"test={sorted(self.tested)} probe={sorted(self.probed)}"
        )
        return set(self.listed)


def compiled_members(
    conn: Connection, specs: dict[str, SegmentSpec], name: str, now: datetime, tz: tzinfo
) -> tuple[list[str], set[str], set[str]]:
    compiler = SegmentCompiler(specs, now, tz)
    listed = list(conn.execute(compiler.query(name)).scalars())
    tested = set(
        conn.execute(
            select(customers.c.id).where(compiler.contains(name, customers.c.id))
        ).scalars()
    )
    other = customers.alias("probe")
    probed = set(
        conn.execute(select(other.c.id).where(compiler.contains(name, other.c.id))).scalars()
    )
    return listed, tested, probed


class World:
    """Rows for one store, buffered and written on `flush` (or before any evaluation)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.customer_ids: set[str] = set()
        self.item_ids: set[str] = set()
        self.ids = count(1)

    def _add(self, table: str, row: dict[str, Any]) -> None:
        self.pending.setdefault(table, []).append(row)

    def customer(self, customer_id: str, **fields: Any) -> str:
        row: dict[str, Any] = {
            "id": customer_id,
            "email": None,
            "phone": None,
            "first_name": None,
            "last_name": None,
            "timezone": None,
            "created_at": None,
            "email_opt_in": False,
            "sms_opt_in": False,
            "attributes": {},
        }
        unknown = set(fields) - set(row)
        assert not unknown, unknown
        row.update(fields)
        self.customer_ids.add(customer_id)
        self._add("customers", row)
        return customer_id

    def _ensure_customer(self, customer_id: str) -> None:
        if customer_id not in self.customer_ids:
            self.customer(customer_id)

    def item(self, item_id: str, kind: str = "pass", duration_days: int | None = None) -> str:
        self.item_ids.add(item_id)
        self._add(
            "items", {"id": item_id, "name": item_id, "kind": kind, "duration_days": duration_days}
        )
        return item_id

    def purchase(
        self,
        customer_id: str,
        item: str,
        purchased_at: datetime,
        *,
        expires_at: datetime | None = None,
        status: str = "active",
        channel: str | None = None,
    ) -> None:
        self._ensure_customer(customer_id)
        if item not in self.item_ids:
            self.item(item)
        self._add(
            "purchases",
            {
                "id": f"p{next(self.ids)}",
                "customer_id": customer_id,
                "item": item,
                "channel": channel,
                "purchased_at": purchased_at,
                "expires_at": expires_at,
                "status": status,
                "amount": 10.0,
            },
        )

    def redemption(
        self,
        customer_id: str,
        pass_: str,
        redeemed_at: datetime,
        points: int = 10,
        location: str | None = None,
    ) -> None:
        self._ensure_customer(customer_id)
        self._add(
            "redemptions",
            {
                "id": f"r{next(self.ids)}",
                "customer_id": customer_id,
                "pass": pass_,
                "location": location,
                "redeemed_at": redeemed_at,
                "points": points,
            },
        )

    def event(self, customer_id: str, name: str, ts: datetime, **properties: Any) -> None:
        self._ensure_customer(customer_id)
        event_id = next(self.ids)
        self._add(
            "events",
            {
                "id": event_id,
                "message_id": f"m{event_id}",
                "customer_id": customer_id,
                "event": name,
                "ts": ts,
                "received_at": ts,
                "properties": properties,
            },
        )
        for key, value in properties.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                # Keyed by the event's id or its message_id, whichever the schema uses.
                keys = {"event_id": event_id, "message_id": f"m{event_id}"}
                self._add(
                    "event_numbers",
                    {
                        **{k: v for k, v in keys.items() if k in event_numbers.c},
                        "name": key,
                        "customer_id": customer_id,
                        "event": name,
                        "ts": ts,
                        "value": float(value),
                    },
                )

    def flush(self) -> None:
        if not self.pending:
            return
        with write_transaction(self.engine) as conn:
            for table in reversed(TABLES_CHILD_FIRST):
                rows = self.pending.pop(table.name, [])
                if rows:
                    conn.execute(insert(table), rows)
        assert not self.pending

    def clear(self) -> None:
        """Empty every table, for the next example of a property-based test."""
        self.pending.clear()
        self.customer_ids.clear()
        self.item_ids.clear()
        with write_transaction(self.engine) as conn:
            for table in TABLES_CHILD_FIRST:
                conn.execute(delete(table))

    def members(
        self, specs: dict[str, SegmentSpec], name: str, now: datetime, tz: tzinfo
    ) -> Members:
        self.flush()
        with self.engine.connect() as conn:
            listed, tested, probed = compiled_members(conn, specs, name, now, tz)
            reference = evaluate(specs, name, Snapshot.load(conn), now, tz)
        return Members(listed, tested, probed, reference)

    def check(
        self,
        specs: dict[str, SegmentSpec],
        expected: set[str] | str,
        now: datetime,
        tz: tzinfo,
        name: str = "s",
    ) -> None:
        """The reference and every compiled path give exactly `expected`."""
        want = set(expected.split()) if isinstance(expected, str) else expected
        found = self.members(specs, name, now, tz)
        assert found.reference == want, "the reference evaluator disagrees with the test"
        assert found.compiled == want


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    yield World(engine)


@pytest.fixture(autouse=True)
def cli_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Engine]]:
    """The stores CLI commands open during a test; disposed when the test ends.

    Works around a product bug pinned in test_segment_cli.py: a command's engine is never
    disposed, so its pooled connection is closed by the garbage collector, which psycopg
    reports as a ResourceWarning (an error here) in whatever test happens to be running.
    """
    import passcli.cli.context as context
    import passcli.store as store

    opened: list[Engine] = []
    real = store.open_store

    def tracking(url: str) -> Engine:
        engine = real(url)
        opened.append(engine)
        return engine

    # Env.engine finds open_store in its module or imports it from passcli.store on use.
    monkeypatch.setattr(store, "open_store", tracking)
    if hasattr(context, "open_store"):
        monkeypatch.setattr(context, "open_store", tracking)
    yield opened
    for engine in opened:
        engine.dispose()
