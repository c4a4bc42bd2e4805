"""Segment snapshots: who entered and who left a segment since its last successful sync.

The diff is one SQL statement: the segment's compiled query as a CTE, compared with the
snapshot's rows by EXCEPT both ways, so no customer list is built in Python. Its rows stream
into a `ChangeLog` on disk: a sync sends exactly the changes it read and later applies exactly
those to the snapshot, whatever the store did meanwhile, and memory stays flat at any size.

Only `advance` writes, after a sync delivered every event; it checks that no other sync of the
segment finished in between (each success bumps the segment's `generation`).
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from itertools import islice
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy import Connection, Select, delete, insert, literal, select, union_all, update
from sqlalchemy.exc import IntegrityError

from passcli.errors import StoreError
from passcli.segments.compile import ID
from passcli.segments.evaluate import member_ids
from passcli.segments.spec import SegmentSpec
from passcli.store.schema import customers, segment_snapshots, segment_syncs

ENTERED = "entered"
EXITED = "exited"
ChangeKind = Literal["entered", "exited"]

# Rows fetched per round trip while streaming, and ids per DELETE / INSERT when advancing.
FETCH = 5_000
WRITE = 1_000


class Change(NamedTuple):
    change: ChangeKind
    customer_id: str
    email: str | None = None


@dataclass(frozen=True)
class SnapshotState:
    """A segment's last successful sync: `generation` syncs so far (0: never synced)."""

    segment: str
    generation: int
    synced_at: datetime | None
    members: int


class ChangeLog:
    """Changes in a temporary file, one JSON array a line, counted as they are added."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+b")
        self._closer = weakref.finalize(self, self._file.close)
        self.entered = 0
        self.exited = 0

    def __len__(self) -> int:
        return self.entered + self.exited

    def append(self, change: Change) -> None:
        self._file.write(orjson.dumps(tuple(change)) + b"\n")
        if change.change == ENTERED:
            self.entered += 1
        else:
            self.exited += 1

    def __iter__(self) -> Iterator[Change]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            kind, customer_id, email = orjson.loads(line)
            yield Change(kind, customer_id, email)
        self._file.seek(0, 2)

    def head(self, count: int | None) -> list[Change]:
        """The first `count` changes (every change for None), as a list."""
        return list(self) if count is None else list(islice(iter(self), count))

    def close(self) -> None:
        self._closer()


@dataclass(frozen=True)
class Diff:
    """What changed in `segment` at `at` since its snapshot (`since`: None before any sync)."""

    segment: str
    at: datetime
    before: SnapshotState
    changes: ChangeLog

    @property
    def since(self) -> datetime | None:
        return self.before.synced_at

    @property
    def members(self) -> int:
        """The segment's size at `at`."""
        return self.before.members + self.changes.entered - self.changes.exited


def state(conn: Connection, segment: str) -> SnapshotState:
    row = conn.execute(
        select(
            segment_syncs.c.generation, segment_syncs.c.synced_at, segment_syncs.c.members
        ).where(segment_syncs.c.segment == segment)
    ).first()
    if row is None:
        return SnapshotState(segment, 0, None, 0)
    return SnapshotState(segment, row.generation, row.synced_at, row.members)


def changes_query(ids: Select[Any], segment: str, emails: bool = False) -> Select[Any]:
    """change ('entered' / 'exited'), customer_id (and email): members not in the snapshot,
    then snapshot rows no longer members, each in customer-id order."""
    members = ids.cte("members")
    held = select(segment_snapshots.c.customer_id).where(segment_snapshots.c.segment == segment)
    came = select(members.c[ID]).except_(held).subquery("came")
    went = held.except_(select(members.c[ID])).subquery("went")
    both = union_all(
        select(literal(ENTERED).label("change"), came.c[ID].label("customer_id")),
        select(literal(EXITED).label("change"), went.c.customer_id.label("customer_id")),
    ).subquery("changes")
    columns: list[Any] = [both.c.change, both.c.customer_id]
    source: Any = both
    if emails:
        # Customers are never deleted, but an outer join keeps a change even if one were.
        source = both.outerjoin(customers, customers.c.id == both.c.customer_id)
        columns.append(customers.c.email)
    return select(*columns).select_from(source).order_by(both.c.change, both.c.customer_id)


def diff(
    conn: Connection,
    segments: dict[str, SegmentSpec],
    name: str,
    now: datetime,
    tz: tzinfo,
    emails: bool = False,
) -> Diff:
    """The segment's changes since its snapshot, streamed into a ChangeLog; writes nothing.

    The snapshot's state is read before the changes: if another sync advances it in
    between, `advance` sees the newer generation and refuses (see `advance`).
    """
    ids = member_ids(segments, name, now, tz)
    before = state(conn, name)
    log = ChangeLog()
    try:
        result = conn.execution_options(yield_per=FETCH).execute(changes_query(ids, name, emails))
        for row in result:
            log.append(Change(row[0], row[1], row[2] if emails else None))
    except BaseException:
        log.close()
        raise
    return Diff(name, now, before, log)


def advance(conn: Connection, diff: Diff, at: datetime) -> SnapshotState:
    """Apply the diff's changes to the snapshot, in the caller's (write) transaction.

    Refuses with StoreError when another sync of the segment succeeded after `diff` was
    read: its snapshot is not the one these changes were computed against.
    """
    before = diff.before
    after = SnapshotState(before.segment, before.generation + 1, at, diff.members)
    values = {"generation": after.generation, "synced_at": at, "members": after.members}
    conflict = StoreError(
        f"another sync of segment {before.segment!r} finished while this one ran; "
        "the snapshot was left as that sync made it"
    )
    if before.generation == 0:
        try:
            conn.execute(insert(segment_syncs).values(segment=before.segment, **values))
        except IntegrityError:
            raise conflict from None
    else:
        moved = conn.execute(
            update(segment_syncs)
            .where(segment_syncs.c.segment == before.segment)
            .where(segment_syncs.c.generation == before.generation)
            .values(**values)
        )
        if moved.rowcount != 1:
            raise conflict
    for chunk in _chunks((c.customer_id for c in diff.changes if c.change == EXITED), WRITE):
        conn.execute(
            delete(segment_snapshots)
            .where(segment_snapshots.c.segment == before.segment)
            .where(segment_snapshots.c.customer_id.in_(chunk))
        )
    for chunk in _chunks((c.customer_id for c in diff.changes if c.change == ENTERED), WRITE):
        conn.execute(
            insert(segment_snapshots),
            [{"segment": before.segment, "customer_id": customer_id} for customer_id in chunk],
        )
    return after


def _chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(values)
    while chunk := list(islice(iterator, size)):
        yield chunk
