"""Segment snapshots: the diff against the last sync, computed in the store, and `advance`.

Segment `s` holds the customers with an active, unexpired `pass`; members change as purchases
are added and as they expire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from passcli.errors import StoreError
from passcli.segments import snapshots
from passcli.segments.snapshots import Change, advance, diff, state
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import segment_snapshots, segment_syncs

from .conftest import single

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SPECS = single({"purchase": {"item": "pass", "status": "active"}})


@pytest.fixture
def club(world):
    """a (pass expires before LATER), b and d (pass until 2027); c has no pass yet."""
    world.purchase("a", "pass", NOW - timedelta(days=300), expires_at=NOW + timedelta(days=5))
    world.purchase("b", "pass", NOW - timedelta(days=10), expires_at=NOW + timedelta(days=355))
    world.purchase("d", "pass", NOW - timedelta(days=1), expires_at=NOW + timedelta(days=364))
    world.customer("c", email="c@example.com")
    world.flush()
    return world


def changes_at(engine, at, name="s"):
    with read_transaction(engine) as conn:
        found = diff(conn, SPECS, name, at, UTC)
    try:
        return found, list(found.changes)
    finally:
        found.changes.close()


def sync_state(engine, at=NOW):
    """Take the diff at `at` and advance the snapshot with it, as a successful sync does."""
    with read_transaction(engine) as conn:
        found = diff(conn, SPECS, "s", at, UTC)
    try:
        with write_transaction(engine) as conn:
            return advance(conn, found, at)
    finally:
        found.changes.close()


def snapshot_rows(engine, name="s"):
    with read_transaction(engine) as conn:
        return sorted(
            conn.execute(
                select(segment_snapshots.c.customer_id).where(segment_snapshots.c.segment == name)
            ).scalars()
        )


def test_the_first_diff_lists_every_member_as_entered(club):
    found, changes = changes_at(club.engine, NOW)

    assert changes == [Change("entered", "a"), Change("entered", "b"), Change("entered", "d")]
    assert (found.since, found.before.generation, found.before.members) == (None, 0, 0)
    assert (found.changes.entered, found.changes.exited, found.members) == (3, 0, 3)


def test_a_diff_writes_nothing_and_says_the_same_twice(club):
    first = changes_at(club.engine, NOW)[1]

    assert changes_at(club.engine, NOW)[1] == first
    assert snapshot_rows(club.engine) == []
    with read_transaction(club.engine) as conn:
        assert conn.execute(select(func.count()).select_from(segment_syncs)).scalar_one() == 0


def test_after_a_sync_the_diff_lists_who_entered_and_who_left(club):
    sync_state(club.engine)
    club.purchase("c", "pass", LATER - timedelta(days=1), expires_at=LATER + timedelta(days=365))
    club.flush()

    found, changes = changes_at(club.engine, LATER)

    # a's pass expired, c bought one: entered first, then exited, each in id order.
    assert changes == [Change("entered", "c"), Change("exited", "a")]
    assert (found.since, found.before.generation, found.before.members) == (NOW, 1, 3)
    assert found.members == 3


def test_nothing_changed_is_an_empty_diff(club):
    sync_state(club.engine)

    found, changes = changes_at(club.engine, NOW + timedelta(hours=1))

    assert changes == []
    assert found.members == 3


def test_advance_applies_the_changes_it_was_given_and_counts_the_syncs(club):
    first = sync_state(club.engine)
    assert (first.generation, first.synced_at, first.members) == (1, NOW, 3)
    assert snapshot_rows(club.engine) == ["a", "b", "d"]
    club.purchase("c", "pass", LATER - timedelta(days=1), expires_at=LATER + timedelta(days=365))
    club.flush()

    second = sync_state(club.engine, LATER)

    assert (second.generation, second.synced_at, second.members) == (2, LATER, 3)
    assert snapshot_rows(club.engine) == ["b", "c", "d"]
    with read_transaction(club.engine) as conn:
        assert state(conn, "s") == second


def test_advance_applies_the_diff_read_not_what_the_store_holds_by_then(club):
    """Data changing while a sync delivers must not slip into the snapshot unsent."""
    with read_transaction(club.engine) as conn:
        found = diff(conn, SPECS, "s", NOW, UTC)
    club.purchase("c", "pass", NOW - timedelta(hours=1), expires_at=NOW + timedelta(days=30))
    club.flush()
    with write_transaction(club.engine) as conn:
        advance(conn, found, NOW)
    found.changes.close()

    assert snapshot_rows(club.engine) == ["a", "b", "d"]
    assert changes_at(club.engine, NOW)[1] == [Change("entered", "c")]


@pytest.mark.parametrize("synced_before", [False, True])
def test_advance_refuses_when_another_sync_finished_first(club, synced_before):
    if synced_before:
        sync_state(club.engine)
    club.purchase("c", "pass", NOW - timedelta(hours=1), expires_at=NOW + timedelta(days=30))
    club.flush()
    with read_transaction(club.engine) as conn:
        slow = diff(conn, SPECS, "s", NOW, UTC)
    winner = sync_state(club.engine)

    with pytest.raises(StoreError, match="another sync of segment 's' finished while this one"):
        with write_transaction(club.engine) as conn:
            advance(conn, slow, NOW)
    slow.changes.close()

    with read_transaction(club.engine) as conn:
        assert state(conn, "s") == winner
    assert snapshot_rows(club.engine) == ["a", "b", "c", "d"]


def test_segments_keep_separate_snapshots(club):
    specs = {"s": SPECS["s"], "holders": single({"purchase": {"item": "pass"}})["s"]}
    with read_transaction(club.engine) as conn:
        found = diff(conn, specs, "holders", NOW, UTC)
    with write_transaction(club.engine) as conn:
        advance(conn, found, NOW)
    found.changes.close()

    assert snapshot_rows(club.engine, "holders") == ["a", "b", "d"]
    assert snapshot_rows(club.engine, "s") == []
    assert [c.change for c in changes_at(club.engine, NOW)[1]] == ["entered"] * 3


def test_large_changes_are_written_in_chunks(world, monkeypatch):
    monkeypatch.setattr(snapshots, "WRITE", 7)
    for n in range(40):
        world.purchase(f"m{n:03}", "pass", NOW - timedelta(days=1 + n % 3))
    world.flush()
    holders = single({"purchase": {"item": "pass"}})

    with read_transaction(world.engine) as conn:
        found = diff(conn, holders, "s", NOW, UTC)
    with write_transaction(world.engine) as conn:
        after = advance(conn, found, NOW)
    found.changes.close()

    assert after.members == 40
    assert snapshot_rows(world.engine) == [f"m{n:03}" for n in range(40)]


def test_emails_come_with_the_changes_when_asked(club):
    club.purchase("c", "pass", NOW - timedelta(hours=1), expires_at=NOW + timedelta(days=30))
    club.flush()

    with read_transaction(club.engine) as conn:
        found = diff(conn, SPECS, "s", NOW, UTC, emails=True)
    changes = found.changes.head(None)
    found.changes.close()

    assert Change("entered", "c", "c@example.com") in changes
    assert Change("entered", "a", None) in changes


def test_an_unknown_segment_is_a_usage_error(club):
    from passcli.errors import UsageError

    with pytest.raises(UsageError, match="unknown segment 'nope'"):
        changes_at(club.engine, NOW, "nope")


@pytest.mark.parametrize(
    "condition",
    [
        {
            "any": [
                {"purchase": {"item": "pass", "status": "active"}},
                {"event": {"name": "Joined"}},
            ]
        },
        {"not": {"purchase": {"item": "pass", "status": "active"}}},
        {"attribute": {"name": "email", "op": "exists"}},
    ],
    ids=["union", "not", "customers-scan"],
)
def test_every_shape_of_segment_query_diffs_against_its_members(club, condition):
    club.event("c", "Joined", NOW - timedelta(days=1))
    club.flush()
    specs = single(condition)
    members = club.members(specs, "s", NOW, UTC).compiled

    with read_transaction(club.engine) as conn:
        found = diff(conn, specs, "s", NOW, UTC)
    with write_transaction(club.engine) as conn:
        advance(conn, found, NOW)
    first = found.changes.head(None)
    found.changes.close()
    with read_transaction(club.engine) as conn:
        later = diff(conn, specs, "s", LATER, UTC)
    changes = later.changes.head(None)
    later.changes.close()

    assert first == [Change("entered", c) for c in sorted(members)]
    assert snapshot_rows(club.engine) == sorted(members)
    now_in = club.members(specs, "s", LATER, UTC).compiled
    assert changes == [Change("entered", c) for c in sorted(now_in - members)] + [
        Change("exited", c) for c in sorted(members - now_in)
    ]
