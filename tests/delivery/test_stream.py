"""The audience stream: every row once, in the query's order, typed as the query's own
rows; on PostgreSQL from a held cursor, so that no snapshot stays open during the send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text

from passcli.delivery.stream import batches
from passcli.store import make_engine, write_transaction
from passcli.store.schema import customers

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def fill(engine, count):
    with write_transaction(engine) as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "id": f"c{n:03d}",
                    "email": f"c{n}@example.com",
                    "email_opt_in": True,
                    "sms_opt_in": False,
                    "created_at": CREATED + timedelta(days=n),
                    "attributes": {"n": n, "città": "Roma"},
                }
                for n in range(count)
            ],
        )


QUERY = select(customers.c.id, customers.c.created_at, customers.c.attributes).order_by(
    customers.c.id.desc()
)


def test_rows_come_in_batches_in_the_querys_order_and_types(engine):
    fill(engine, 7)
    found = list(batches(engine, QUERY, 3))
    assert [len(batch) for batch in found] == [3, 3, 1]
    rows = [row for batch in found for row in batch]
    assert [row.id for row in rows] == [f"c{n:03d}" for n in reversed(range(7))]
    assert rows[0].created_at == CREATED + timedelta(days=6)
    assert rows[0].attributes == {"n": 6, "città": "Roma"}


def test_an_empty_query_yields_no_batch(engine):
    assert list(batches(engine, QUERY, 3)) == []


def test_a_stream_left_early_can_be_read_again(engine):
    fill(engine, 5)
    stream = batches(engine, QUERY, 2)
    assert [row.id for row in next(stream)] == ["c004", "c003"]
    stream.close()
    assert sum(len(batch) for batch in batches(engine, QUERY, 2)) == 5


def test_postgresql_keeps_no_snapshot_open_between_batches(engine, database_url, backend):
    """A snapshot held for the whole send would keep every old version of the rows the send
    writes; between two batches the reader's session holds none (backend_xmin is null)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    fill(engine, 5)
    name = f"passcli-stream-{uuid.uuid4().hex[:12]}"
    reader = make_engine(f"{database_url}&application_name={name}")
    try:
        stream = batches(reader, QUERY, 2)
        assert len(next(stream)) == 2
        with engine.connect() as conn:
            state = conn.execute(
                text(
                    "SELECT state, backend_xmin FROM pg_stat_activity WHERE application_name = :n"
                ),
                {"n": name},
            ).one()
        assert (state.state, state.backend_xmin) == ("idle", None)
        assert sum(len(batch) for batch in stream) == 3
    finally:
        reader.dispose()
