"""Recording holds in the ledger: a new row per recipient, or a skipped / transiently failed
row of the same send held instead; a sent one is left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from passcli.delivery.ledger import SendKey
from passcli.delivery.queue import Content, Planned, ledger_row
from passcli.policy.holds import Held, hold
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import customers, deliveries

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)
SEND = SendKey(key="manual:hello:x", kind="message", message="hello", occurrence="x")


def item(customer_id: str) -> Planned:
    return Planned(customer_id, customer_id, "email", f"{customer_id}@example.com", Content("Hi"))


def test_holds_insert_or_replace_skipped_and_retryable_rows(engine):
    with write_transaction(engine) as conn:
        conn.execute(
            insert(customers),
            [
                {"id": c, "email_opt_in": True, "sms_opt_in": False, "attributes": {}}
                for c in "abcd"
            ],
        )
        for row in (
            ledger_row(SEND, item("b"), NOW, status="skipped", error="frequency_cap"),
            ledger_row(SEND, item("c"), NOW, status="failed", retryable=True),
            ledger_row(SEND, item("d"), NOW, status="sent"),
        ):
            conn.execute(insert(deliveries).values(row))
    until = NOW + timedelta(hours=4)
    with write_transaction(engine) as conn:
        hold(conn, SEND, [Held(item(c), until) for c in "abcd"], NOW + timedelta(days=1), NOW)
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(deliveries.c.recipient, deliveries.c.status, deliveries.c.hold_until).order_by(
                deliveries.c.recipient
            )
        ).all()
    assert [(r.recipient, r.status, r.hold_until) for r in rows] == [
        ("a", "held", until),
        ("b", "held", until),
        ("c", "held", until),
        ("d", "sent", None),
    ]
