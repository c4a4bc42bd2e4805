"""Engines and transactions.

SQLite is tuned for a cron job and a person working at once: WAL, foreign keys, a busy
timeout, and write transactions that begin IMMEDIATE. A deferred transaction that upgrades
to a write after another writer committed fails with SQLITE_BUSY at once, busy timeout or
not; taking the write lock up front makes a second writer wait instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from passcli.errors import StoreError, UsageError

WRITE_OPTION = "passcli_write"

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 60000",
    "PRAGMA synchronous = NORMAL",
    # Reads of the big covering indexes go through the page cache without copies
    # (LIMITS.md: about 25% off probe-heavy segments).
    "PRAGMA mmap_size = 1073741824",
)


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


# Seconds to wait for a PostgreSQL server to accept a connection (libpq's connect_timeout;
# a `?connect_timeout=N` in the URL wins).
CONNECT_TIMEOUT = 10


def make_engine(url: str) -> Engine:
    """An engine for the store at `url`, with passcli's SQLite settings when it is SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(f"PASSCLI_DATABASE_URL is not a database URL: {safe_url(url)}") from None
    if parsed.get_backend_name() != "sqlite":
        # A server that does not answer fails the command after a while, not never.
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT
        try:
            return create_engine(
                parsed,
                pool_pre_ping=True,
                json_serializer=_json_dumps,
                connect_args=connect_args,
            )
        except (ImportError, ArgumentError) as exc:
            raise UsageError(
                f"cannot use {safe_url(url)}: {exc} "
                "(for PostgreSQL: pip install 'passcli[postgres]')"
            ) from None
    if parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise StoreError(f"cannot open the store: folder {folder} does not exist")
    # Non-ASCII keys written as themselves: SQLite before 3.45 cannot find an escaped key
    # ("\u00e0") by its path ("$.città"), so a JSON attribute would vanish from segments.
    engine = create_engine(parsed, json_serializer=_json_dumps)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event, not pysqlite, decide how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: IMMEDIATE on SQLite; committed on success."""
    with _translated(engine), engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def writer(engine: Engine) -> Iterator[Connection]:
    """A connection for many short write transactions (`with conn.begin():` each), without
    a pool checkout per transaction: the ledger writes one per delivery."""
    with _translated(engine), engine.connect() as conn:
        yield conn.execution_options(**{WRITE_OPTION: True})


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot of the store."""
    with _translated(engine), engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def _translated(engine: Engine) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"store {safe_url(str(engine.url))}: {reason}") from exc
