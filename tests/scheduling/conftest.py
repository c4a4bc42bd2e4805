"""Fixtures for scheduling tests: small projects, a recording transport, a run-due harness.

`World` is one project directory (segments.yaml + messages.yaml written from Python data)
over a migrated store, with customers inserted straight into the store. `World.run(now)`
calls `RunDue(...).run(now)` in-process with a `RecordingTransport` for both channels, so a
test reads exactly what was handed to a transport, in order. Nothing here reads the clock:
the lease's wall clock is a parameter, and it defaults to the real one only because leases
must expire in real time (SPEC §6).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, insert, select

from passcli.branding import Branding
from passcli.delivery.base import Outgoing
from passcli.delivery.transports import Transports
from passcli.errors import PermanentDeliveryError, TransientDeliveryError
from passcli.project import Project, require_project
from passcli.scheduling.run_due import RunDue, RunDueReport
from passcli.store import read_transaction
from passcli.store.schema import customers, deliveries, occurrence_zones, occurrences
from passcli.timeutil import zone

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-secret-key-for-unsubscribe-links-0123456789"
BRANDING = Branding(
    org_name="Denver Explorer",
    dashboard_url="https://example.com/pass/{customer_id}",
    unsubscribe_url="https://example.com/unsubscribe",
    secret_key=SECRET,
)

# A segment every customer is in (`id` is a built-in field every customer has).
EVERYONE = {"everyone": {"conditions": [{"attribute": {"name": "id", "op": "exists"}}]}}


def real_wall_clock() -> datetime:
    """Leases expire by the real clock, never by the simulated `now` (SPEC §6)."""
    return datetime.now(UTC)


def no_sleep(seconds: float) -> None:
    """Backoff waits are skipped in tests; the number of tries is what matters."""


@dataclass
class RecordingTransport:
    """A transport for both channels that keeps every message it was handed.

    `failing` holds addresses whose sends raise TransientDeliveryError (all of them, every
    try, while the address is in the set); `permanent` holds addresses that fail for good.
    `calls` counts every call, failed ones included.
    """

    sent: list[Outgoing] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    permanent: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)

    def send(self, message: Outgoing) -> str:
        self.calls.append(message.to)
        if message.to in self.permanent:
            raise PermanentDeliveryError(f"SMTP 550: no such user {message.to}")
        if message.to in self.failing:
            raise TransientDeliveryError(f"SMTP 451: try {message.to} again later")
        self.sent.append(message)
        return f"fake-{len(self.sent)}"

    def close(self) -> None:
        return None

    def keys(self) -> list[str]:
        """The delivery key of every message sent: `scheduled:<message>:<occurrence>-<id>`."""
        return [m.key for m in self.sent]

    def clear(self) -> None:
        self.sent.clear()
        self.calls.clear()


def customer(
    id: str,
    *,
    timezone: str | None = "America/Denver",
    email: str | None = "",
    phone: str | None = None,
    email_opt_in: bool = True,
    sms_opt_in: bool = False,
    **attributes: Any,
) -> dict[str, Any]:
    """A customers row; the email defaults to `<id>@example.com`."""
    return {
        "id": id,
        "email": f"{id}@example.com" if email == "" else email,
        "phone": phone,
        "first_name": id.title(),
        "last_name": "Tester",
        "timezone": timezone,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "email_opt_in": email_opt_in,
        "sms_opt_in": sms_opt_in,
        "attributes": attributes,
    }


def write_project(
    directory: Path, messages: Mapping[str, Any], segments: Mapping[str, Any] | None = None
) -> None:
    """Write segments.yaml and messages.yaml (and an .env with a secret key)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "segments.yaml").write_text(
        yaml.safe_dump({"segments": dict(segments or EVERYONE)}, sort_keys=False),
        encoding="utf-8",
    )
    (directory / "messages.yaml").write_text(
        yaml.safe_dump({"messages": dict(messages)}, sort_keys=False), encoding="utf-8"
    )
    (directory / ".env").write_text(f"PASSCLI_SECRET_KEY={SECRET}\n", encoding="utf-8")


def email_message(schedule: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A scheduled email to everyone."""
    message: dict[str, Any] = {
        "segments": ["everyone"],
        "channel": "email",
        "subject": "Hello {{ customerFirstName }}",
        "body": "Hi {{ customerFirstName }}, see {{ dashboardUrl }}",
        "schedule": dict(schedule),
    }
    message.update(overrides)
    return message


@dataclass
class World:
    """A project directory over a store, and an in-process run-due."""

    directory: Path
    engine: Engine
    org_zone: str = "America/Denver"
    transport: RecordingTransport = field(default_factory=RecordingTransport)
    wall_clock: Callable[[], datetime] = real_wall_clock

    @property
    def tz(self) -> Any:
        return zone(self.org_zone)

    def write(self, messages: Mapping[str, Any], segments: Mapping[str, Any] | None = None) -> None:
        write_project(self.directory, messages, segments)

    def project(self) -> Project:
        return require_project(self.directory)

    def add(self, *rows: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(customers), list(rows))

    def runner(self, **options: Any) -> RunDue:
        return RunDue(
            engine=self.engine,
            project=self.project(),
            tz=self.tz,
            org_zone=self.org_zone,
            branding=BRANDING,
            transports=Transports.fixed(self.transport, self.transport),
            wall_clock=self.wall_clock,
            sleep=no_sleep,
            **options,
        )

    def run(self, now: datetime | str, **options: Any) -> RunDueReport:
        when = datetime.fromisoformat(now) if isinstance(now, str) else now
        return self.runner(**options).run(when)

    def deliveries(self, *where: Any) -> list[dict[str, Any]]:
        d = deliveries.c
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(deliveries).where(*where).order_by(d.id))
            return [dict(row._mapping) for row in rows]

    def occurrences(self) -> list[dict[str, Any]]:
        o = occurrences.c
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(occurrences).order_by(o.message, o.due_at, o.id))
            return [dict(row._mapping) for row in rows]

    def occurrence_zones(self) -> list[dict[str, Any]]:
        z = occurrence_zones.c
        with read_transaction(self.engine) as conn:
            rows = conn.execute(select(occurrence_zones).order_by(z.occurrence_id, z.zone))
            return [dict(row._mapping) for row in rows]


@pytest.fixture
def world(tmp_path: Path, engine: Engine) -> World:
    return World(tmp_path / "project", engine)


def example_project(directory: Path) -> None:
    """The repository's own segments.yaml and messages.yaml, plus a secret key."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("segments.yaml", "messages.yaml"):
        shutil.copy(REPO / name, directory / name)
    (directory / ".env").write_text(f"PASSCLI_SECRET_KEY={SECRET}\n", encoding="utf-8")


def wall_instant(wall: datetime, tz: tzinfo) -> datetime:
    """A naive wall time's instant (UTC) by SPEC §4's rule, computed without `fold`.

    Try the offsets in force a day either side (no zone used here changes twice in two
    days): a reading that maps back to `wall` is valid, and of two (a repeated time) the
    first wins. When neither maps back, `wall` is in a spring-forward gap, and reading it
    with the offset from before the change moves it forward by the gap.
    """
    readings = []
    for probe in (wall - timedelta(days=1), wall + timedelta(days=1)):
        offset = probe.replace(tzinfo=tz).utcoffset()
        assert offset is not None
        candidate = (wall - offset).replace(tzinfo=UTC)
        if candidate.astimezone(tz).replace(tzinfo=None) == wall:
            readings.append(candidate)
    if readings:
        return min(readings)
    before = (wall - timedelta(days=1)).replace(tzinfo=tz).utcoffset()
    assert before is not None
    return (wall - before).replace(tzinfo=UTC)


def by_message(report: RunDueReport, status: str = "sent") -> dict[tuple[str, str], list[str]]:
    """{(message, occurrence): [customer ids with this status, in order]} of one run-due."""
    return {
        (run.message, run.occurrence): [
            r["customer_id"] for r in run.recipients if r["status"] == status
        ]
        for run in report.runs
    }


def pairs(rows: Iterable[Mapping[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[k] for k in keys) for row in rows]


# -- a real SMTP server on loopback ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepted.

    With `hold` set to an address, the first message to it is not answered until the test
    sets `release` (the handler waits in a worker thread, so the server keeps serving):
    `holding` tells the test that the client is now blocked inside its transport call.
    """

    accepted: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    held: list[Message] = field(default_factory=list)
    hold: str | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content.replace(b"\r\n", b"\n"))
        if self.hold in envelope.rcpt_tos and not self.holding.is_set():
            self.held.append(message)
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            return "250 2.0.0 OK queued (too late: the client is gone)"
        with self.lock:
            self.accepted.append(message)
        return "250 2.0.0 OK queued"

    def count(self) -> Counter[tuple[str, str]]:
        """Messages accepted per (recipient, subject)."""
        with self.lock:
            return Counter((m["To"].lower(), str(m["Subject"])) for m in self.accepted)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    handler.release.set()
    controller.stop()
