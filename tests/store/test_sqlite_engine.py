"""SQLite tuned for a cron job and a person at once: WAL, foreign keys, a busy timeout, and
write transactions that take the write lock up front so a second writer waits."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from passcli.errors import StoreError
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import customers, items, purchases

WAIT = 10  # seconds: only reached when something is broken


@pytest.fixture(autouse=True)
def _sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite only: PRAGMAs, WAL and BEGIN IMMEDIATE are SQLite's")


def pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_the_journal_is_wal(engine):
    assert pragma(engine, "journal_mode") == "wal"


def test_foreign_keys_are_enforced(engine):
    assert pragma(engine, "foreign_keys") == 1
    with pytest.raises(StoreError, match="FOREIGN KEY constraint failed"):
        with write_transaction(engine) as conn:
            conn.execute(
                insert(purchases).values(
                    id="p1", customer_id="ghost", item="nothing", purchased_at=0, status="active"
                )
            )


def test_a_busy_timeout_is_set(engine):
    assert pragma(engine, "busy_timeout") == 60_000


def test_every_pooled_connection_gets_the_settings(engine):
    with engine.connect() as one, engine.connect() as two:
        assert [c.exec_driver_sql("PRAGMA foreign_keys").scalar() for c in (one, two)] == [1, 1]


def in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_write_transaction_makes_a_second_writer_wait_until_it_commits(engine):
    first_holds_lock = threading.Event()
    first_may_commit = threading.Event()
    second_trying = threading.Event()
    second_in = threading.Event()
    second_saw: list[str] = []

    def first() -> None:
        with write_transaction(engine) as conn:
            first_holds_lock.set()
            assert first_may_commit.wait(WAIT)
            conn.execute(insert(items).values(id="a", name="A", kind="pass"))

    def second() -> None:
        second_trying.set()
        with write_transaction(engine) as conn:
            second_in.set()
            second_saw.extend(conn.execute(select(items.c.id)).scalars())
            conn.execute(insert(items).values(id="b", name="B", kind="pass"))

    first_thread, first_errors = in_thread(first)
    assert first_holds_lock.wait(WAIT)
    second_thread, second_errors = in_thread(second)
    assert second_trying.wait(WAIT)

    # BEGIN IMMEDIATE: the second writer is held at its start, not failed at its first write.
    assert not second_in.wait(0.3)
    first_may_commit.set()
    first_thread.join(WAIT)
    second_thread.join(WAIT)

    assert (first_errors, second_errors) == ([], [])
    assert second_saw == ["a"]  # it began after the first one committed
    with read_transaction(engine) as conn:
        assert conn.execute(select(items.c.id).order_by(items.c.id)).scalars().all() == ["a", "b"]


def test_readers_are_not_blocked_by_a_writer_and_see_the_last_commit(engine):
    with write_transaction(engine) as conn:
        conn.execute(insert(items).values(id="old", name="Old", kind="pass"))
    writer_wrote = threading.Event()
    reader_done = threading.Event()

    def writer() -> None:
        with write_transaction(engine) as conn:
            conn.execute(insert(items).values(id="new", name="New", kind="pass"))
            writer_wrote.set()
            assert reader_done.wait(WAIT)

    thread, errors = in_thread(writer)
    assert writer_wrote.wait(WAIT)
    with read_transaction(engine) as conn:
        seen = conn.execute(select(items.c.id)).scalars().all()
    reader_done.set()
    thread.join(WAIT)

    assert errors == []
    assert seen == ["old"]


def test_a_failed_write_transaction_rolls_back_and_is_a_store_error(engine):
    with pytest.raises(StoreError, match="UNIQUE constraint failed"):
        with write_transaction(engine) as conn:
            conn.execute(insert(items).values(id="x", name="X", kind="pass"))
            conn.execute(insert(items).values(id="x", name="X again", kind="pass"))

    with read_transaction(engine) as conn:
        assert conn.execute(select(items.c.id)).scalars().all() == []


def test_an_error_inside_a_write_transaction_rolls_it_back_and_propagates(engine):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with write_transaction(engine) as conn:
            conn.execute(
                insert(customers).values(
                    id="c1", email_opt_in=True, sms_opt_in=False, attributes={}
                )
            )
            raise Boom

    with read_transaction(engine) as conn:
        assert conn.execute(select(customers.c.id)).scalars().all() == []


def test_store_errors_keep_the_sqlalchemy_error_as_their_cause(engine):
    with pytest.raises(StoreError) as caught:
        with write_transaction(engine) as conn:
            conn.execute(insert(items).values(id="x", name=None, kind="pass"))

    assert isinstance(caught.value.__cause__, IntegrityError)
