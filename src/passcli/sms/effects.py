"""What an inbound SMS does to the customers with its phone number (SPEC §8), and the
replay of messages from phones no customer had when they arrived (`match_inbound`, run by
imports). Store writes only: no transport, so imports can use it cheaply."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from passcli.groups.keywords import Keyword
from passcli.groups.members import customers_with
from passcli.store.schema import consent_changes, customers, events, group_members, inbound_messages

EVENT = "SMS Keyword"


def insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> int | None:
    """INSERT one row unless it would break a unique key; the new row's id, or None.

    Webhooks run at once (Twilio retries one that is slow to answer): on PostgreSQL a
    second insert of the same key waits for the first transaction, then does nothing,
    where a check before the insert would see nothing and fail on the key."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    found = conn.execute(statement.returning(table.c.id)).scalar_one_or_none()
    return int(found) if found is not None else None


def apply_to_customer(
    conn: Connection,
    customer_id: str,
    inbound_id: int,
    keyword: Keyword,
    body: str,
    at: datetime,
) -> bool:
    """What one inbound message does to one customer with its phone number; True when a
    join keyword made them a new member of its group.

    STOP words opt out of all SMS and end the memberships that keywords started (a later
    join keyword starts a new one, with its reply); START words opt back in, and a join
    keyword opts in and joins. Every message becomes an `SMS Keyword` event."""
    g = group_members.c
    joined = False
    if keyword.action == "stop":
        _sms_consent(conn, customer_id, False, keyword.word, at)
        conn.execute(
            delete(group_members).where(g.customer_id == customer_id, g.source == "keyword")
        )
    elif keyword.action in ("start", "join"):
        _sms_consent(conn, customer_id, True, keyword.word, at)
    if keyword.action == "join" and keyword.group is not None:
        # A member already (by keyword or by hand) stays as they are.
        joined = (
            insert_new(
                conn,
                group_members,
                {
                    "group_name": keyword.group,
                    "customer_id": customer_id,
                    "address": None,
                    "source": "keyword",
                    "added_at": at,
                },
            )
            is not None
        )
    conn.execute(
        insert(events).values(
            message_id=f"sms-inbound:{inbound_id}:{customer_id}",
            customer_id=customer_id,
            event=EVENT,
            ts=at,
            received_at=at,
            properties={"keyword": keyword.word, "group": keyword.group, "body": body},
        )
    )
    return joined


def _sms_consent(
    conn: Connection, customer_id: str, opted_in: bool, word: str, at: datetime
) -> None:
    """A person's own SMS opt-in or opt-out, by keyword: recorded, and never overridden by an
    import."""
    conn.execute(
        update(customers)
        .where(customers.c.id == customer_id)
        .values(sms_opt_in=opted_in, sms_consent_source="person")
    )
    conn.execute(
        insert(consent_changes).values(
            customer_id=customer_id,
            channel="sms",
            opted_in=opted_in,
            source="keyword",
            at=at,
            detail=word,
        )
    )


def pending_phone(conn: Connection, keyword: Keyword, number: str, at: datetime) -> bool:
    """From a phone no customer has: a join keyword is kept as a pending member of its
    group (True when new), a STOP word drops the phone's pending keyword memberships."""
    g = group_members.c
    if keyword.action == "stop":
        conn.execute(
            delete(group_members).where(
                g.address == number, g.customer_id.is_(None), g.source == "keyword"
            )
        )
        return False
    if keyword.action != "join":
        return False
    # One pending row per group and address (a partial unique index): a second join
    # keyword from the phone, or an address added by hand before, keeps the first.
    pending = {
        "group_name": keyword.group,
        "customer_id": None,
        "address": number,
        "source": "keyword",
        "added_at": at,
    }
    return insert_new(conn, group_members, pending) is not None


def match_inbound(conn: Connection) -> int:
    """Apply the messages received from phones that no customer had, to the customers who
    now have those phones, in the order received; how many messages were matched."""
    m = inbound_messages.c
    # Only the phones some customer now has: texts from numbers that never become a
    # customer's (wrong numbers, spam) must not cost a query per import.
    waiting = conn.execute(
        select(m.id, m.phone, m.body, m.keyword, m.action, m.group_name, m.received_at)
        .where(m.customer_id.is_(None), exists().where(customers.c.phone == m.phone))
        .order_by(m.received_at, m.id)
    ).all()
    matched = 0
    for row in waiting:
        found = customers_with(conn, row.phone)
        keyword = Keyword(row.action, row.keyword, row.group_name)
        for customer_id in found:
            apply_to_customer(conn, customer_id, int(row.id), keyword, row.body, row.received_at)
        conn.execute(update(inbound_messages).where(m.id == row.id).values(customer_id=found[0]))
        matched += 1
    return matched
