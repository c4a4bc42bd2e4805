"""Which deliveries converted, and which were followed by an unsubscribe (SPEC §10).

Each is a SQL predicate on one `deliveries` row, used inside the report's aggregate query, so
a report reads the events and consent changes it needs through their indexes and never loads
customers into Python. Instants are integer seconds in the store, so a window is plain
integer arithmetic on every backend.

- A delivery **converts** when its customer has the conversion event (with its `where`
  filters) timestamped after the delivery's `sent_at` and at most `within` after it (and not
  after the report's now). Counted once per delivery however many events match.
- A delivery is **followed by an unsubscribe** when its own unsubscribe link was used (a
  consent change with source `unsubscribe` whose detail is the delivery's send key, for that
  customer), whenever that happened; or, for a text message, when the customer texted a STOP
  word (source `keyword`, opted out) within the window after it and this text was the last
  message or journey text sent to them before the STOP (so one STOP is attributed to one
  delivery; keyword replies and test sends do not count as texts here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, literal, or_

from passcli.messages.conversion import Conversion
from passcli.segments.predicates import where_sql
from passcli.store.schema import consent_changes, deliveries, events
from passcli.timeutil import to_epoch

# How long after a text a STOP is attributed to it when the message has no conversion window.
DEFAULT_UNSUBSCRIBE_WINDOW = 3 * 86400

# Sends that may prompt a STOP: messages and journey steps (not keyword replies, such as the
# confirmation a STOP itself gets, nor test sends to the seed list).
CAMPAIGN_KINDS = ("message", "journey")


def converted(d: Any, conversion: Conversion, now: datetime) -> ColumnElement[bool]:
    """The delivery `d` (a deliveries alias's columns) was followed by the conversion event."""
    e = events.alias().c
    match = conversion.event.as_event()
    return exists().where(
        e.event == match.name,
        e.customer_id == d.customer_id,
        e.ts > d.sent_at,
        e.ts <= d.sent_at + literal(conversion.within.total),
        e.ts <= to_epoch(now),
        *(where_sql(w, e) for w in match.where),
    )


def link_unsubscribed(d: Any, now: datetime) -> ColumnElement[bool]:
    """The delivery's own unsubscribe link was used (the token carries its send key)."""
    c = consent_changes.alias().c
    return exists().where(
        c.customer_id == d.customer_id,
        c.source == "unsubscribe",
        c.opted_in.is_(False),
        c.detail == d.send_key,
        c.at <= to_epoch(now),
    )


def stopped_after(d: Any, window: int, now: datetime) -> ColumnElement[bool]:
    """The customer texted STOP within `window` seconds after this text, and no other text
    was sent to them in between (the last text before a STOP takes it)."""
    c = consent_changes.alias().c
    newer = deliveries.alias()
    later = newer.c
    # Two levels down, SQLAlchemy would not correlate `d` by itself: say so.
    newer_text = (
        exists()
        .where(
            later.customer_id == d.customer_id,
            later.channel == "sms",
            later.status == "sent",
            later.kind.in_(CAMPAIGN_KINDS),
            or_(
                later.sent_at > d.sent_at,
                and_(later.sent_at == d.sent_at, later.id > d.id),
            ),
            later.sent_at <= c.at,
        )
        .correlate_except(newer)
    )
    stop = exists().where(
        c.customer_id == d.customer_id,
        c.channel == "sms",
        c.source == "keyword",
        c.opted_in.is_(False),
        c.at >= d.sent_at,
        c.at <= d.sent_at + literal(window),
        c.at <= to_epoch(now),
        ~newer_text,
    )
    return and_(d.channel == "sms", stop)


def unsubscribed(d: Any, window: int, now: datetime) -> ColumnElement[bool]:
    """Either kind of unsubscribe followed the delivery."""
    return or_(link_unsubscribed(d, now), stopped_after(d, window, now))
