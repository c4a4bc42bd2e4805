"""Audience sync: a segment's changes as Segment-spec track events, then the snapshot.

A sync reads the diff since the segment's snapshot (every member, the first time), sends
each change as an `Audience Entered` or `Audience Exited` track event, and advances the
snapshot only once every event was delivered, in one transaction. A failed sync leaves the
snapshot as it was, so the next one sends the same changes again, with the same messageIds:
a messageId is derived from the segment, the number of the sync, the change and the
customer, so receivers can drop what an earlier failed attempt already delivered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson
from sqlalchemy import Engine

from passcli import __version__
from passcli.errors import DeliveryError
from passcli.segments.destinations import Destination
from passcli.segments.snapshots import ENTERED, Change, advance, diff
from passcli.segments.spec import SegmentSpec
from passcli.store import read_transaction, write_transaction
from passcli.timeutil import iso_utc

EVENT_NAMES = {"entered": "Audience Entered", "exited": "Audience Exited"}

# Fixed namespace of passcli's audience messageIds (uuid5 of it and the change's key).
MESSAGE_ID_NAMESPACE = uuid.UUID("4f1c2a7e-9b3d-5c8e-a1f0-6d2b7e9c3a15")


@dataclass(frozen=True)
class SyncReport:
    """One successful sync: the changes sent and the snapshot it left."""

    segment: str
    at: datetime
    to: str
    since: datetime | None  # the previous sync; None for the first one
    entered: int
    exited: int
    requests: int  # HTTP batches sent (0 for a file)
    sync: int  # this sync's number: 1 for the first
    members: int  # in the snapshot now

    @property
    def first(self) -> bool:
        return self.sync == 1

    @property
    def events(self) -> int:
        return self.entered + self.exited


def message_id(segment: str, sync: int, change: str, customer_id: str) -> str:
    """The same for the same change of the same sync, whichever attempt sends it."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{segment}\n{sync}\n{change}\n{customer_id}"))


def audience_event(segment: str, sync: int, change: Change, at: datetime) -> dict[str, Any]:
    """A track event as Segment's Engage sends audience changes (Segment spec)."""
    context: dict[str, Any] = {"library": {"name": "passcli", "version": __version__}}
    if change.email:
        context["traits"] = {"email": change.email}
    return {
        "type": "track",
        "event": EVENT_NAMES[change.change],
        "userId": change.customer_id,
        "timestamp": iso_utc(at),
        "messageId": message_id(segment, sync, change.change, change.customer_id),
        "properties": {"audience_key": segment, segment: change.change == ENTERED},
        "context": context,
    }


def sync_segment(
    engine: Engine,
    segments: dict[str, SegmentSpec],
    name: str,
    now: datetime,
    tz: tzinfo,
    destination: Destination,
) -> SyncReport:
    """Send the segment's changes since its snapshot to `destination`, then advance it.

    Raises DeliveryError (snapshot unchanged) when a delivery fails, and StoreError when
    another sync of the segment finished first.
    """
    with read_transaction(engine) as conn:
        found = diff(conn, segments, name, now, tz, emails=True)
    try:
        number = found.before.generation + 1
        events = (
            orjson.dumps(audience_event(name, number, change, now)) for change in found.changes
        )
        try:
            delivered = destination.deliver(events)
        except DeliveryError as exc:
            raise type(exc)(
                f"sync of segment {name!r} to {destination.name} failed: {exc}; the snapshot "
                "was not advanced (the next sync sends these changes again)"
            ) from exc
        with write_transaction(engine) as conn:
            after = advance(conn, found, now)
    finally:
        found.changes.close()
    return SyncReport(
        segment=name,
        at=now,
        to=destination.name,
        since=found.since,
        entered=found.changes.entered,
        exited=found.changes.exited,
        requests=delivered.requests,
        sync=after.generation,
        members=after.members,
    )
