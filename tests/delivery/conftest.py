"""Fixtures for delivery tests: the example data in a project, and helpers to send from it.

The example data set (`passcli.sampledata`) is imported once per session into a template
store; each test's store gets a copy of its rows (`example_engine`, tests/conftest.py), on
SQLite and PostgreSQL alike. Time is pinned: the store's `now` is the examples' reference
instant, the lease's wall clock is a fixed function, and `sleep` is a recorder, so no test
waits.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from passcli import sampledata
from passcli.cli.app import app
from passcli.cli.context import make_env
from passcli.delivery.dispatch import SendReport
from passcli.delivery.manual import send_now
from passcli.delivery.outbox import OutboxTransport
from passcli.delivery.transports import Transports
from passcli.importing.load import import_file
from passcli.project import Project, require_project
from passcli.segments.evaluate import known_items
from passcli.store import read_transaction
from passcli.store.schema import consent_changes, customers, deliveries
from passcli.timeutil import iso_utc, zone

NOW = sampledata.REFERENCE_NOW  # 2026-11-22T10:00:00-07:00
NOW_LABEL = iso_utc(NOW)  # 2026-11-22T17:00:00Z
TZ = zone(sampledata.TIMEZONE)
WALL = datetime.fromisoformat("2030-01-01T12:00:00+00:00")  # the lease's clock, not --now

# What the starter messages reach in the example data at NOW (customer-id order).
EXPIRATION_REMINDER = 10
START_CHECKING_IN = 7
WELCOME_SMS_TO = ("c0000296", "+13035550132")


class Sleeps(list[float]):
    """An injected `sleep` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Example:
    """An initialised project whose store holds the example data."""

    dir: Path
    engine: Engine
    files: Path

    @property
    def outbox(self) -> Path:
        return self.dir / "outbox"

    def write_messages(self, yaml_text: str) -> None:
        (self.dir / "messages.yaml").write_text(textwrap.dedent(yaml_text), encoding="utf-8")

    def project(self) -> Project:
        with read_transaction(self.engine) as conn:
            items = known_items(conn)
        return require_project(self.dir, items)

    def outbox_transports(self) -> Transports:
        box = OutboxTransport(self.outbox, "passcli@example.com")
        return Transports.fixed(box, box)

    def send(
        self,
        name: str,
        transports: Transports | None = None,
        *,
        now: datetime = NOW,
        sleep: Callable[[float], None] | None = None,
        wall_clock: Callable[[], datetime] = lambda: WALL,
        dry_run: bool = False,
        limit: int | None = None,
    ) -> SendReport:
        """`send_now` as the CLI calls it, with settings from the project's .env."""
        env = make_env(None, self.dir)
        return send_now(
            self.engine,
            self.project(),
            name,
            now=now,
            tz=TZ,
            branding=env.branding,
            transports=transports or self.outbox_transports(),
            wall_clock=wall_clock,
            sleep=sleep if sleep is not None else Sleeps(),
            dry_run=dry_run,
            limit=limit,
        )

    def deliveries(self) -> list[dict[str, Any]]:
        """Every ledger row, in customer-id order."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(deliveries).order_by(deliveries.c.customer_id, deliveries.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def customer(self, customer_id: str) -> dict[str, Any]:
        with read_transaction(self.engine) as conn:
            found = conn.execute(select(customers).where(customers.c.id == customer_id)).one()
            return dict(found._mapping)

    def consent_changes(self, customer_id: str) -> list[dict[str, Any]]:
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(consent_changes)
                .where(consent_changes.c.customer_id == customer_id)
                .order_by(consent_changes.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def reimport_customers(self) -> None:
        report = import_file(
            self.engine, "customers", self.files / "customers.csv", tz=TZ, region="US", now=NOW
        )
        assert report.rejected == 0


@pytest.fixture
def examples(
    example_engine: Engine,
    project: Path,
    example_files: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Example:
    """The project (with its .env secret key) on a store holding the example data, and the
    environment a CLI run needs: PASSCLI_TIMEZONE and PASSCLI_NOW pinned to the examples'."""
    monkeypatch.setenv("PASSCLI_TIMEZONE", sampledata.TIMEZONE)
    monkeypatch.setenv("PASSCLI_NOW", NOW.isoformat())
    return Example(project, example_engine, example_files)


def invoke(runner, example: Example, *args: object):
    """Run the CLI on the example project (`--project` after the subcommand's arguments)."""
    return runner.invoke(app, [*(str(a) for a in args), "--project", str(example.dir)])
