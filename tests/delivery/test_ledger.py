"""The delivery ledger (SPEC §6): one row per (send key, recipient), pending -> queued ->
sending -> sent/failed, stale sending rows -> unknown, and what may be planned again."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from passcli.delivery.lease import Lease
from passcli.delivery.ledger import (
    LEASE_SECONDS,
    MAX_ATTEMPTS,
    Outcome,
    SendKey,
    expire_stale,
    record,
    start_sending,
)
from passcli.delivery.queue import Content, Planned, claim_batch, plan
from passcli.store import make_engine, read_transaction, write_transaction
from passcli.store.schema import customers, deliveries, runs

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # --now
WALL = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # the wall clock of leases
SEND = SendKey(key="manual:m:2026-11-22T17:00:00Z", kind="message", message="m")
IDS = [f"c{n}" for n in range(1, 9)]


@pytest.fixture
def ledger(engine):
    """A store with customers c1..c8 and helpers for runs and claims."""
    with write_transaction(engine) as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "id": i,
                    "email": f"{i}@example.com",
                    "email_opt_in": True,
                    "sms_opt_in": False,
                    "attributes": {},
                }
                for i in IDS
            ],
        )
    return engine


def start_run(engine, run_id, heartbeat=WALL, finished=None):
    with write_transaction(engine) as conn:
        conn.execute(
            insert(runs).values(
                id=run_id,
                command="test",
                started_at=heartbeat,
                heartbeat_at=heartbeat,
                finished_at=finished,
            )
        )


def items(*ids, channel="email"):
    return [Planned(i, i, channel, f"{i}@example.com", Content(f"Hi {i}", "Hello")) for i in ids]


@dataclass(frozen=True)
class Taken:
    owned: dict[str, int]  # recipient -> delivery id this run claimed
    held: dict[str, str]  # recipient -> status of a row the plan left alone


def take(engine, run_id, *ids, send=SEND, retry_unknown=False, start=True):
    """Plan and claim (as a dispatcher and its courier do), then move each claimed row to
    `sending` as the courier would right before calling the transport (unless start=False)."""
    with write_transaction(engine) as conn:
        planned = plan(conn, send, items(*ids), NOW, retry_unknown=retry_unknown)
        claimed = claim_batch(conn, send.key, run_id, NOW, size=1000)
        if start:
            for delivery in claimed:
                assert start_sending(conn, delivery.id, run_id, NOW)
        return Taken({c.recipient: c.id for c in claimed}, planned.held)


def finish(engine, outcomes, run_id="run-a"):
    with write_transaction(engine) as conn:
        record(conn, outcomes, NOW + timedelta(seconds=1), run_id)


def rows(engine):
    with read_transaction(engine) as conn:
        found = conn.execute(select(deliveries).order_by(deliveries.c.recipient))
        return {r.recipient: r for r in found}


def expire(engine, wall_now):
    with write_transaction(engine) as conn:
        return expire_stale(conn, wall_now)


def test_a_claim_commits_sending_rows_owned_by_the_run(ledger):
    start_run(ledger, "run-a")
    claimed = take(ledger, "run-a", "c1", "c2")
    assert set(claimed.owned) == {"c1", "c2"}
    assert claimed.held == {}
    found = rows(ledger)
    assert {r.recipient: (r.status, r.run_id, r.attempts) for r in found.values()} == {
        "c1": ("sending", "run-a", 1),
        "c2": ("sending", "run-a", 1),
    }
    assert found["c1"].id == claimed.owned["c1"]
    assert (found["c1"].send_key, found["c1"].message, found["c1"].address) == (
        SEND.key,
        "m",
        "c1@example.com",
    )
    assert Content.loads(found["c1"].payload) == Content("Hi c1", "Hello")


def test_planned_rows_wait_pending_until_a_run_claims_them(ledger):
    with write_transaction(ledger) as conn:
        planned = plan(conn, SEND, items("c1", "c2"), NOW)
    assert (planned.pending, planned.held) == (2, {})
    found = rows(ledger)
    assert {k: (r.status, r.run_id, r.attempts) for k, r in found.items()} == {
        "c1": ("pending", None, 0),
        "c2": ("pending", None, 0),
    }
    start_run(ledger, "run-a")
    with write_transaction(ledger) as conn:
        first = claim_batch(conn, SEND.key, "run-a", NOW, size=1)
        second = claim_batch(conn, SEND.key, "run-a", NOW, size=5)
        third = claim_batch(conn, SEND.key, "run-a", NOW, size=5)
    assert [c.recipient for c in first] == ["c1"]
    assert [c.recipient for c in second] == ["c2"]
    assert third == []
    assert first[0].content == Content("Hi c1", "Hello")
    assert {r.status for r in rows(ledger).values()} == {"queued"}


def test_a_second_claim_of_the_same_send_and_recipient_is_held_not_owned(ledger):
    start_run(ledger, "run-a")
    start_run(ledger, "run-b")
    take(ledger, "run-a", "c1")
    again = take(ledger, "run-b", "c1", "c2")
    assert set(again.owned) == {"c2"}
    assert again.held == {"c1": "sending"}
    assert rows(ledger)["c1"].run_id == "run-a"


def test_the_same_recipient_under_another_send_key_is_a_separate_delivery(ledger):
    start_run(ledger, "run-a")
    take(ledger, "run-a", "c1")
    other = SendKey(key="manual:m:2026-11-23T17:00:00Z", kind="message", message="m")
    assert set(take(ledger, "run-a", "c1", send=other).owned) == {"c1"}
    with read_transaction(ledger) as conn:
        keys = conn.execute(select(deliveries.c.send_key).order_by(deliveries.c.id)).scalars()
        assert list(keys) == [SEND.key, other.key]


def test_the_store_refuses_a_duplicate_send_key_and_recipient(ledger):
    start_run(ledger, "run-a")
    take(ledger, "run-a", "c1")
    row = {
        "send_key": SEND.key,
        "recipient": "c1",
        "kind": "message",
        "channel": "sms",
        "address": "+13035550100",
        "status": "sending",
        "attempts": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }
    with pytest.raises(IntegrityError), ledger.begin() as conn:
        conn.execute(insert(deliveries).values(row))


def test_two_racing_claims_never_own_the_same_recipient(ledger, database_url):
    """Two connections (two engines) plan overlapping recipients and claim from the queue at
    the same moment."""
    engines = [make_engine(database_url), make_engine(database_url)]
    start_run(ledger, "run-a")
    start_run(ledger, "run-b")
    try:
        for round_ in range(10):
            send = SendKey(key=f"manual:m:{round_}", kind="message", message="m")
            barrier = threading.Barrier(2)
            results = {}
            errors = []

            def racer(
                index, run_id, ids, send=send, barrier=barrier, results=results, errors=errors
            ):
                try:
                    barrier.wait(timeout=10)
                    with write_transaction(engines[index]) as conn:
                        plan(conn, send, items(*ids), NOW)
                    with write_transaction(engines[index]) as conn:
                        claimed = claim_batch(conn, send.key, run_id, NOW, size=3)
                    results[run_id] = {c.recipient for c in claimed}
                except Exception as exc:  # reported below, in the test's thread
                    errors.append(exc)

            threads = [
                threading.Thread(target=racer, args=(0, "run-a", IDS[:6])),
                threading.Thread(target=racer, args=(1, "run-b", IDS[2:])),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert errors == []
            a, b = results["run-a"], results["run-b"]
            assert a.isdisjoint(b)
            assert len(a) + len(b) == 6  # each claimed a batch of 3 from one queue
            with read_transaction(ledger) as conn:
                found = conn.execute(
                    select(deliveries.c.recipient, deliveries.c.run_id).where(
                        deliveries.c.send_key == send.key
                    )
                ).all()
            assert len(found) == len(IDS)
            owners = {"run-a": a, "run-b": b}
            assert all(run_id is None or recipient in owners[run_id] for recipient, run_id in found)
    finally:
        for engine in engines:
            engine.dispose()


def test_record_turns_sending_into_sent_or_failed(ledger):
    start_run(ledger, "run-a")
    owned = take(ledger, "run-a", "c1", "c2").owned
    finish(
        ledger,
        [
            Outcome(owned["c1"], "sent", provider_id="<id-1@example.com>"),
            Outcome(owned["c2"], "failed", error="SMTP 550: no such user"),
        ],
    )
    found = rows(ledger)
    done = NOW + timedelta(seconds=1)
    assert (found["c1"].status, found["c1"].provider_id, found["c1"].sent_at) == (
        "sent",
        "<id-1@example.com>",
        done,
    )
    assert found["c1"].error is None
    assert (found["c1"].payload, found["c2"].payload) == (None, None)  # content not kept
    assert (found["c2"].status, found["c2"].error, found["c2"].sent_at) == (
        "failed",
        "SMTP 550: no such user",
        None,
    )
    assert found["c2"].updated_at == done


def test_sending_rows_of_a_run_whose_lease_expired_become_unknown(ledger):
    start_run(ledger, "stale", heartbeat=WALL - timedelta(seconds=LEASE_SECONDS + 1))
    start_run(ledger, "alive", heartbeat=WALL - timedelta(seconds=LEASE_SECONDS - 1))
    take(ledger, "stale", "c1", "c2")
    take(ledger, "alive", "c3")
    sent = take(ledger, "stale", "c4").owned
    finish(ledger, [Outcome(sent["c4"], "sent")], run_id="stale")
    assert expire(ledger, WALL) == 2
    found = rows(ledger)
    assert {k: r.status for k, r in found.items()} == {
        "c1": "unknown",
        "c2": "unknown",
        "c3": "sending",
        "c4": "sent",
    }
    assert found["c1"].error == "the run sending it stopped before it recorded an outcome"


def test_sending_rows_of_a_finished_run_become_unknown(ledger):
    start_run(ledger, "done", finished=WALL)
    take(ledger, "done", "c1")
    assert expire(ledger, WALL) == 1
    assert rows(ledger)["c1"].status == "unknown"


def test_a_lease_expires_by_the_injected_wall_clock_not_by_now(ledger):
    wall = [WALL]
    with Lease(ledger, "send", lambda: wall[0], interval=3600) as lease:
        take(ledger, lease.id, "c1")
        wall[0] = WALL + timedelta(seconds=LEASE_SECONDS)  # exactly 60 s: still held
        assert expire(ledger, wall[0]) == 0
        wall[0] = WALL + timedelta(seconds=LEASE_SECONDS + 1)
        assert expire(ledger, wall[0]) == 1
    assert rows(ledger)["c1"].status == "unknown"
    with read_transaction(ledger) as conn:
        run = conn.execute(select(runs).where(runs.c.id == lease.id)).one()
    assert (run.command, run.started_at, run.heartbeat_at, run.finished_at) == (
        "send",
        WALL,
        WALL,
        WALL + timedelta(seconds=LEASE_SECONDS + 1),
    )


def test_unknown_rows_are_not_claimed_again_unless_retry_unknown(ledger):
    start_run(ledger, "gone", finished=WALL)
    start_run(ledger, "next")
    take(ledger, "gone", "c1")
    expire(ledger, WALL)
    again = take(ledger, "next", "c1")
    assert (again.owned, again.held) == ({}, {"c1": "unknown"})
    assert rows(ledger)["c1"].status == "unknown"

    retried = take(ledger, "next", "c1", retry_unknown=True)
    assert list(retried.owned) == ["c1"]
    row = rows(ledger)["c1"]
    assert (row.status, row.run_id, row.attempts, row.error) == ("sending", "next", 2, None)


def test_sent_rows_are_never_claimed_again_even_with_retry_unknown(ledger):
    start_run(ledger, "run-a")
    owned = take(ledger, "run-a", "c1").owned
    finish(ledger, [Outcome(owned["c1"], "sent")])
    again = take(ledger, "run-a", "c1", retry_unknown=True)
    assert (again.owned, again.held) == ({}, {"c1": "sent"})


def test_transiently_failed_rows_are_retried_up_to_five_attempts(ledger):
    start_run(ledger, "run-a")
    attempts = []
    for _ in range(MAX_ATTEMPTS):
        owned = take(ledger, "run-a", "c1").owned
        assert list(owned) == ["c1"]
        outcome = Outcome(owned["c1"], "failed", error="SMTP 421: try later", retryable=True)
        finish(ledger, [outcome])
        attempts.append(rows(ledger)["c1"].attempts)
    assert attempts == [1, 2, 3, 4, 5]
    assert MAX_ATTEMPTS == 5
    sixth = take(ledger, "run-a", "c1")
    assert (sixth.owned, sixth.held) == ({}, {"c1": "failed"})
    row = rows(ledger)["c1"]
    assert (row.status, row.attempts) == ("failed", 5)


def test_a_retried_failed_delivery_takes_the_new_address(ledger):
    start_run(ledger, "run-a")
    owned = take(ledger, "run-a", "c1").owned
    finish(ledger, [Outcome(owned["c1"], "failed", error="boom", retryable=True)])
    with write_transaction(ledger) as conn:
        plan(conn, SEND, [Planned("c1", "c1", "sms", "+13035550100", Content("Hi"))], NOW)
    row = rows(ledger)["c1"]
    assert (row.channel, row.address, row.status) == ("sms", "+13035550100", "pending")
    assert Content.loads(row.payload) == Content("Hi")


def test_record_changes_only_rows_the_run_still_owns(ledger):
    """A stalled run whose row was re-claimed by another run cannot overwrite it."""
    start_run(ledger, "slow")
    start_run(ledger, "run-a")
    owned = take(ledger, "slow", "c1").owned
    with write_transaction(ledger) as conn:
        conn.execute(deliveries.update().values(status="sending", run_id="run-a"))
    finish(ledger, [Outcome(owned["c1"], "failed", error="late")], run_id="slow")
    row = rows(ledger)["c1"]
    assert (row.status, row.run_id, row.error) == ("sending", "run-a", None)


def test_permanently_failed_rows_are_never_retried(ledger):
    start_run(ledger, "run-a")
    owned = take(ledger, "run-a", "c1").owned
    finish(ledger, [Outcome(owned["c1"], "failed", error="Twilio 400: invalid To (21211)")])
    again = take(ledger, "run-a", "c1")
    assert (again.owned, again.held) == ({}, {"c1": "failed"})
    assert rows(ledger)["c1"].attempts == 1


def test_queued_rows_of_a_dead_run_are_released_for_another_claim(ledger):
    """Claimed but never handed to a transport: nobody got them, so they are not unknown:
    they go back to the queue, their attempt not counted."""
    start_run(ledger, "stale", heartbeat=WALL - timedelta(seconds=LEASE_SECONDS + 1))
    start_run(ledger, "next")
    take(ledger, "stale", "c1", start=False)
    expire(ledger, WALL)
    row = rows(ledger)["c1"]
    assert (row.status, row.run_id, row.attempts) == ("pending", None, 0)
    assert list(take(ledger, "next", "c1").owned) == ["c1"]
    assert rows(ledger)["c1"].attempts == 1


def test_a_claim_takes_only_rows_after_the_given_id(ledger):
    start_run(ledger, "run-a")
    with write_transaction(ledger) as conn:
        plan(conn, SEND, items("c1", "c2", "c3"), NOW)
    ids = {r.recipient: r.id for r in rows(ledger).values()}
    with write_transaction(ledger) as conn:
        later = claim_batch(conn, SEND.key, "run-a", NOW, size=5, after=ids["c1"])
        rest = claim_batch(conn, SEND.key, "run-a", NOW, size=5, after=ids["c3"])
        first = claim_batch(conn, SEND.key, "run-a", NOW, size=5)
    assert [c.recipient for c in later] == ["c2", "c3"]
    assert rest == []
    assert [c.recipient for c in first] == ["c1"]


def test_record_takes_an_idempotent_transports_queued_rows_straight_to_sent(ledger):
    """The outbox skips `sending`: its claimed rows are recorded from `queued`."""
    start_run(ledger, "run-a")
    owned = take(ledger, "run-a", "c1", "c2", start=False).owned
    finish(ledger, [Outcome(owned["c1"], "sent", provider_id="<1@example.com>")])
    finish(ledger, [Outcome(owned["c2"], "sent")], run_id="run-b")  # not run-b's row
    found = rows(ledger)
    assert (found["c1"].status, found["c1"].provider_id, found["c1"].payload) == (
        "sent",
        "<1@example.com>",
        None,
    )
    assert (found["c2"].status, found["c2"].run_id) == ("queued", "run-a")


def test_planning_again_counts_waiting_rows_once_and_inserts_only_new_ones(ledger):
    start_run(ledger, "run-a")
    with write_transaction(ledger) as conn:
        plan(conn, SEND, items("c1", "c2", "c3"), NOW)
        claimed = claim_batch(conn, SEND.key, "run-a", NOW, size=1)
        again = plan(conn, SEND, items("c1", "c2", "c3", "c4", "c5"), NOW)
    assert [c.recipient for c in claimed] == ["c1"]
    # c2 and c3 still wait (planned before, never claimed), c4 and c5 are new: 4 pending.
    assert (again.pending, again.held) == (4, {"c1": "queued"})
    found = rows(ledger)
    assert len(found) == 5
    assert {k: r.status for k, r in found.items()} == {
        "c1": "queued",
        "c2": "pending",
        "c3": "pending",
        "c4": "pending",
        "c5": "pending",
    }


def test_many_racing_claimers_take_every_row_exactly_once(ledger, database_url):
    """Four claimers, each with its own connection, empty one queue in small batches at
    the same time (one statement per claim: SKIP LOCKED on PostgreSQL)."""
    recipients = [f"r{n:03d}" for n in range(120)]
    planned = [Planned(r, None, "email", f"{r}@example.com", Content("Hi")) for r in recipients]
    with write_transaction(ledger) as conn:
        plan(conn, SEND, planned, NOW)
    run_ids = [f"run-{n}" for n in range(4)]
    for run_id in run_ids:
        start_run(ledger, run_id)
    engines = [make_engine(database_url) for _ in run_ids]
    barrier = threading.Barrier(len(run_ids))
    taken: dict[str, list[str]] = {run_id: [] for run_id in run_ids}
    errors = []

    def claimer(engine, run_id):
        try:
            barrier.wait(timeout=10)
            while True:
                with write_transaction(engine) as conn:
                    batch = claim_batch(conn, SEND.key, run_id, NOW, size=7)
                if not batch:
                    return
                assert len(batch) <= 7
                taken[run_id].extend(c.recipient for c in batch)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=claimer, args=(engine, run_id))
        for engine, run_id in zip(engines, run_ids, strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for engine in engines:
            engine.dispose()
    assert errors == []
    everyone = [r for batch in taken.values() for r in batch]
    assert sorted(everyone) == recipients  # each row once, none left out
    owners = {r.recipient: r.run_id for r in rows(ledger).values()}
    assert all(owners[r] == run_id for run_id, batch in taken.items() for r in batch)
    assert {r.status for r in rows(ledger).values()} == {"queued"}
