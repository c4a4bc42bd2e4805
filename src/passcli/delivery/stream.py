"""A send's audience read in batches, without holding one snapshot for the whole send.

On SQLite the query streams from a read transaction (`yield_per`), as everywhere else.

On PostgreSQL a cursor open for the whole send would keep its snapshot, and with it every
version of every delivery row the send writes meanwhile: the index entries of rows that left
`pending`, `queued` or `sending` could then never be pruned, so each claim and each record
of outcomes would walk past all of them again, a cost that grows with the square of the
send. The query runs instead as a cursor WITH HOLD: its transaction commits at once, which
runs the query to its end into a server-side store (memory, then a temporary file), and
releases the snapshot; batches are then FETCHed from it, each in a transaction of its own.
The client's memory stays flat either way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ClauseElement, Engine, Executable, Row, Select, column, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from passcli.store.engine import read_transaction, writer


def batches(engine: Engine, query: Select[Any], size: int) -> Iterator[list[Row[Any]]]:
    """The rows of `query`, `size` at a time, in its order."""
    if engine.dialect.name != "postgresql":
        with read_transaction(engine) as conn:
            rows = conn.execution_options(yield_per=size).execute(query)
            while batch := rows.fetchmany(size):
                yield list(batch)
        return
    name = f"passcli_audience_{uuid.uuid4().hex[:16]}"
    # FETCH's rows carry the query's column names and types (JSON, instants), as the query's
    # own rows would.
    typed = [column(c.name, c.type) for c in query.selected_columns]
    fetch = text(f"FETCH FORWARD {int(size)} FROM {name}").columns(*typed)
    # One connection for the cursor's life (a held cursor belongs to its session), with a
    # transaction per statement: `writer`'s connection, though it only reads.
    with writer(engine) as conn:
        with conn.begin():
            conn.execute(_DeclareHeld(name, query))
        try:
            while True:
                with conn.begin():
                    batch = list(conn.execute(fetch).all())
                if not batch:
                    break
                yield batch
        finally:
            with conn.begin():
                conn.execute(text(f"CLOSE {name}"))


class _DeclareHeld(Executable, ClauseElement):
    """DECLARE name NO SCROLL CURSOR WITH HOLD FOR query (PostgreSQL): the query's
    parameters bound and typed as when it runs by itself."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(_DeclareHeld, "postgresql")
def _declare_held(element: _DeclareHeld, compiler: SQLCompiler, **kw: Any) -> str:
    query = compiler.process(element.query, **kw)
    return f"DECLARE {element.name} NO SCROLL CURSOR WITH HOLD FOR {query}"
