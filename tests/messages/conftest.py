"""Fixtures for message tests: project files written from text, and a tiny store factory.

`Store` writes customers, items, purchases and redemptions straight into a migrated store, so
each test states the few records it is about; `everyone` is a segment every customer is in.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from passcli.branding import Branding
from passcli.messages.spec import MessageSpec, parse_messages
from passcli.project import load_project
from passcli.segments.spec import Problem, SegmentSpec, parse_segments
from passcli.store import write_transaction
from passcli.store.schema import customers, items, purchases, redemptions
from passcli.timeutil import zone

TZ = zone("America/Denver")
NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # 10:00 in Denver
SECRET = "test-secret-key"
BRANDING = Branding(
    org_name="Mile High Passes",
    dashboard_url="https://passes.example/pass/{customer_id}",
    unsubscribe_url="https://passes.example/unsubscribe",
    secret_key=SECRET,
)

EVERYONE = {"everyone": {"conditions": [{"attribute": {"name": "id", "op": "exists"}}]}}


def write_files(directory: Path, messages: str, segments: str | None = None) -> Path:
    """Write messages.yaml (and segments.yaml, default: the starter file) from indented text."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "messages.yaml").write_text(textwrap.dedent(messages), encoding="utf-8")
    if segments is not None:
        (directory / "segments.yaml").write_text(textwrap.dedent(segments), encoding="utf-8")
    elif not (directory / "segments.yaml").exists():
        starter = Path(__file__).parents[2] / "segments.yaml"
        (directory / "segments.yaml").write_text(starter.read_text(), encoding="utf-8")
    return directory


def diagnostics(directory: Path, known_items: set[str] | None = None) -> list[str]:
    """Every problem of the project, as `FILE:LINE:COLUMN: message` lines."""
    _, found = load_project(directory, known_items)
    return [str(d) for d in found]


def segments_of(document: dict[str, Any] | None = None) -> dict[str, SegmentSpec]:
    problems: list[Problem] = []
    specs = parse_segments({"segments": document or EVERYONE}, problems)
    assert problems == []
    return specs


def message_of(**fields: Any) -> MessageSpec:
    """One message parsed from its fields (`pass_` for `pass`); fails on any problem."""
    if "pass_" in fields:
        fields["pass"] = fields.pop("pass_")
    fields.setdefault("segments", ["everyone"])
    problems: list[Problem] = []
    parsed = parse_messages({"messages": {"m": fields}}, problems)
    assert problems == []
    return parsed["m"]


@dataclass
class Store:
    """Writes records into a migrated store, filling in what a test does not care about."""

    engine: Engine

    def customer(self, id: str, **values: Any) -> str:
        row = {
            "id": id,
            "email": f"{id}@example.com",
            "phone": None,
            "first_name": id.title(),
            "last_name": None,
            "timezone": None,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "email_opt_in": True,
            "sms_opt_in": False,
            "email_consent_source": "import",
            "sms_consent_source": "import",
            "attributes": {},
        }
        row.update(values)
        with write_transaction(self.engine) as conn:
            conn.execute(insert(customers).values(row))
        return id

    def item(self, id: str, name: str, kind: str = "pass", duration_days: int | None = None):
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(items).values(id=id, name=name, kind=kind, duration_days=duration_days)
            )

    def purchase(self, id: str, customer_id: str, item: str, **values: Any) -> None:
        row = {
            "id": id,
            "customer_id": customer_id,
            "item": item,
            "channel": "web",
            "purchased_at": datetime(2026, 11, 1, tzinfo=UTC),
            "expires_at": None,
            "status": "active",
            "amount": 49.0,
        }
        row.update(values)
        with write_transaction(self.engine) as conn:
            conn.execute(insert(purchases).values(row))

    def redemption(self, id: str, customer_id: str, pass_: str, points: int, at: datetime):
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(redemptions).values(
                    id=id,
                    customer_id=customer_id,
                    location="Museum",
                    redeemed_at=at,
                    points=points,
                    **{"pass": pass_},
                )
            )


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)
