"""A courier on its own: it claims after the last row it took, looks through the whole
queue before it calls a send delivered, and sends an idempotent transport's deliveries
straight from `queued`, any other's after committing each one `sending`."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

from passcli.branding import Branding
from passcli.delivery.base import Outgoing
from passcli.delivery.courier import Courier
from passcli.delivery.ledger import SendKey
from passcli.delivery.queue import Content, Planned, plan
from passcli.delivery.report import SendReport
from passcli.delivery.transports import Transports
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import deliveries, runs

from .test_ledger import NOW, WALL

SEND = SendKey(key="manual:m:2026-11-22T17:00:00Z", kind="message", message="m")
BRANDING = Branding("Org", "https://example.com", "https://example.com/u", "secret")


class Box:
    """A transport that lists what it was given, and the delivery's status in the ledger
    at that moment; `idempotent` as asked."""

    def __init__(self, engine, idempotent: bool) -> None:
        self.engine = engine
        self.idempotent = idempotent
        self.sent: list[str] = []
        self.statuses: list[str] = []

    def send(self, message: Outgoing) -> str:
        self.sent.append(message.to)
        with read_transaction(self.engine) as conn:
            status = conn.execute(
                select(deliveries.c.status).where(deliveries.c.address == message.to)
            ).scalar_one()
        self.statuses.append(status)
        return f"id-{len(self.sent)}"

    def close(self) -> None:
        return None


def courier(engine, box, batch=2):
    with write_transaction(engine) as conn:
        conn.execute(
            insert(runs).values(id="run-a", command="test", started_at=WALL, heartbeat_at=WALL)
        )
    transports = Transports.fixed(box, box)
    return Courier(engine, BRANDING, transports, lambda _: None, "run-a", NOW, batch=batch)


def queue(engine, *recipients):
    with write_transaction(engine) as conn:
        plan(
            conn,
            SEND,
            [Planned(r, None, "email", f"{r}@example.com", Content("Hi")) for r in recipients],
            NOW,
        )


def statuses(engine):
    with read_transaction(engine) as conn:
        found = conn.execute(select(deliveries.c.recipient, deliveries.c.status))
        return dict(found.all())


def report():
    return SendReport("m", NOW, "label", dry_run=False)


def test_a_partial_drain_takes_new_rows_and_a_full_drain_finds_older_ones(engine):
    box = Box(engine, idempotent=False)
    worker = courier(engine, box)
    queue(engine, "a", "b", "c")
    assert worker.drain(SEND.key, report()) == 3
    # "a" failed transiently: planned again, it is queued again under its old id; "d" is new.
    with write_transaction(engine) as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.recipient == "a")
            .values(status="failed", retryable=True)
        )
    queue(engine, "a", "d")
    assert worker.drain(SEND.key, report(), exhaustive=False) == 1
    assert statuses(engine)["a"] == "pending"
    assert worker.drain(SEND.key, report()) == 1
    assert box.sent == [f"{r}@example.com" for r in ("a", "b", "c", "d", "a")]
    assert set(statuses(engine).values()) == {"sent"}


@pytest.mark.parametrize("idempotent", [True, False])
def test_only_a_transport_that_is_not_idempotent_sees_its_rows_sending(engine, idempotent):
    box = Box(engine, idempotent=idempotent)
    worker = courier(engine, box)
    queue(engine, "a", "b", "c", "d", "e")
    sent = report()
    assert worker.drain(SEND.key, sent) == 5
    assert sent.sent["email"] == 5
    assert sorted(box.sent) == [f"{r}@example.com" for r in "abcde"]
    assert set(box.statuses) == ({"queued"} if idempotent else {"sending"})
    assert set(statuses(engine).values()) == {"sent"}
