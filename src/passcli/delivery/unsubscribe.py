"""Applying an unsubscribe (`passcli unsubscribe`, and later the web endpoint); the tokens
themselves are in messages/tokens.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from passcli.errors import NotFoundError
from passcli.messages.tokens import Claims, make_token, token_from, unsubscribe_link, verify_token
from passcli.store.schema import consent_changes, customers

__all__ = [
    "Claims",
    "apply_unsubscribe",
    "make_token",
    "token_from",
    "unsubscribe_link",
    "verify_token",
]


def apply_unsubscribe(conn: Connection, claims: Claims, now: datetime) -> bool:
    """Opt the customer out of the channel, as a person's choice no import overrides.

    Returns False when they had already unsubscribed themselves (nothing changes then). An
    opt-out that came from an import becomes the person's own choice, which no later import
    overrides (SPEC §2). A test send's token changes nothing either (callers say so: see
    `Claims.from_test_send`): a seed clicking it is not the customer."""
    if claims.from_test_send:
        return False
    opt_in = customers.c[f"{claims.channel}_opt_in"]
    source = customers.c[f"{claims.channel}_consent_source"]
    row = conn.execute(select(opt_in, source).where(customers.c.id == claims.customer_id)).first()
    if row is None:
        raise NotFoundError(f"no customer with id {claims.customer_id!r}")
    if not row[0] and row[1] == "person":
        return False  # already their own choice: nothing to record
    conn.execute(
        update(customers)
        .where(customers.c.id == claims.customer_id)
        .values({opt_in: False, f"{claims.channel}_consent_source": "person"})
    )
    conn.execute(
        insert(consent_changes).values(
            customer_id=claims.customer_id,
            channel=claims.channel,
            opted_in=False,
            source="unsubscribe",
            at=now,
            detail=claims.send_key,
        )
    )
    return True
