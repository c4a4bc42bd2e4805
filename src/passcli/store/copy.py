"""Copying a whole store into an empty one (`passcli db copy --to URL`), for teams moving from
SQLite to PostgreSQL.

Every table of the schema is streamed from one read snapshot of the source, in foreign-key
order, with its primary keys, into ONE write transaction on the target, and counted on both
sides before that transaction commits: a failure, a mismatch or Ctrl-C leaves the target
migrated but empty. Memory stays flat whatever the size: rows move `batch` at a time.

Values cross as the database holds them, not as passcli's column types present them: instants
as integer seconds and JSON as its text, so JSON keeps its exact bytes between SQLite stores
and a SQL NULL stays NULL (SQLAlchemy's JSON type would write it back as JSON `null`).

The source must be at this passcli's schema revision; it is not migrated here (the command
opens it like every command does, which migrates it). The target is migrated to that revision
first, once it is known to hold no rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Engine,
    Table,
    Text,
    bindparam,
    cast,
    false,
    func,
    inspect,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import AddConstraint, DropConstraint
from sqlalchemy.sql.elements import ColumnElement

from passcli.errors import StoreError, UsageError
from passcli.store.engine import read_transaction, safe_url, write_transaction
from passcli.store.migrate import HEAD_REVISION, current_revision, ensure_schema
from passcli.store.schema import metadata
from passcli.store.types import UtcInstant

# Rows per batch read from the source and written to the target.
BATCH = 10_000

# Called after each batch: table name, rows of it copied so far, rows it holds in the source.
Progress = Callable[[str, int, int], None]
Batches = Iterable[Sequence[Sequence[Any]]]


@dataclass(frozen=True)
class CopyReport:
    """What was copied: the two stores (passwords hidden) and the rows of each table."""

    source: str
    target: str
    tables: dict[str, int]  # in copy (foreign-key) order; the same count on both sides

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def copy_store(
    source: Engine, target: Engine, progress: Progress | None = None, batch: int = BATCH
) -> CopyReport:
    """Copy every row of `source` into `target`, which must hold none; counts checked."""
    source_url, target_url = safe_url(str(source.url)), safe_url(str(target.url))
    if same_database(source.url, target.url):
        raise UsageError(f"the source and the target are the same store ({target_url})")
    with _blame("source", source_url), source.connect() as conn:
        revision = current_revision(conn)
    if revision != HEAD_REVISION:
        raise UsageError(
            f"the source store {source_url} is at schema revision {revision or '(none)'}, "
            f"not {HEAD_REVISION}: open it with this passcli (any command) to migrate it first"
        )
    # Before migrating: a refused copy leaves the target as it was.
    with _blame("target", target_url), target.connect() as conn:
        _require_empty(conn, target_url)
    ensure_schema(target)

    tables = metadata.sorted_tables
    with _reading(source) as reader, write_transaction(target) as writer:
        _require_empty(writer, target_url)  # again, inside the transaction that writes
        with _blame("source", source_url):
            counts = {table.name: _count(reader, table) for table in tables}
        write = _writer_for(writer)
        with _blame("target", target_url):
            _drop_checks(writer, tables)
            for table in tables:
                batches = _read(reader, table, batch, source_url)
                if progress is not None:
                    batches = _reporting(batches, table.name, counts[table.name], progress)
                write(writer, table, batches)
            _restore_checks(writer, tables)
            _reset_sequences(writer, tables)
            for table in tables:
                copied = _count(writer, table)
                if copied != counts[table.name]:
                    raise StoreError(
                        f"copy check failed: {table.name} has {counts[table.name]} rows in "
                        f"the source but {copied} in the target; nothing was copied"
                    )
    return CopyReport(source=source_url, target=target_url, tables=counts)


def same_database(a: URL, b: URL) -> bool:
    """Whether two URLs name one store: the same SQLite file, or the same server, database
    and connection options (a PostgreSQL `search_path` option names a different schema)."""
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        memory = {None, "", ":memory:"}
        if a.database in memory or b.database in memory:
            return False  # each in-memory database is its own
        return Path(str(a.database)).resolve() == Path(str(b.database)).resolve()
    return _server_database(a) == _server_database(b)


def _server_database(url: URL) -> tuple[Any, ...]:
    return (url.host, url.port, url.database, dict(url.query))


@contextmanager
def _reading(source: Engine) -> Iterator[Connection]:
    """One snapshot of the source for every table (a SQLite read transaction is one already;
    PostgreSQL's default, READ COMMITTED, takes a new one per statement)."""
    with read_transaction(source) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn


@contextmanager
def _blame(role: str, url: str) -> Iterator[None]:
    """Name the store a foreign error came from: both are open while a table is copied."""
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"{role} store {url}: {reason}") from exc


def _require_empty(conn: Connection, url: str) -> None:
    present = set(inspect(conn).get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in present:
            continue
        if conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None:
            raise UsageError(
                f"the target store {url} is not empty ({table.name} has rows): "
                "passcli copies only into an empty store"
            )


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- reading ----------------------------------------------------------------------------------


def _stored(column: Column[Any]) -> ColumnElement[Any]:
    """The column as the database holds it: instants as integers, JSON as text."""
    if isinstance(column.type, UtcInstant):
        return type_coerce(column, BigInteger()).label(column.name)
    if isinstance(column.type, JSON):
        return cast(column, Text()).label(column.name)  # jsonb::text on PostgreSQL
    return column


def _read(conn: Connection, table: Table, batch: int, url: str) -> Iterator[Sequence[Any]]:
    """The table's rows, `batch` at a time (a server-side cursor on PostgreSQL)."""
    query = select(*(_stored(column) for column in table.columns))
    with _blame("source", url):
        result = conn.execution_options(yield_per=batch).execute(query)
        for rows in result.partitions():
            yield [tuple(row) for row in rows]


def _reporting(
    batches: Batches, name: str, total: int, progress: Progress
) -> Iterator[Sequence[Sequence[Any]]]:
    done = 0
    for rows in batches:
        yield rows
        done += len(rows)
        progress(name, done, total)


# -- writing ----------------------------------------------------------------------------------

Writer = Callable[[Connection, Table, Batches], None]


def _writer_for(conn: Connection) -> Writer:
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _copy_rows
    return _insert_rows


def _insert_rows(conn: Connection, table: Table, batches: Batches) -> None:
    """One INSERT compiled for the target, run by the driver's executemany on the rows as
    read: SQLAlchemy's per-row parameter processing cost more than SQLite's inserts."""
    names = [column.name for column in table.columns]
    statement = table.insert().values({name: _bound(conn, table.c[name]) for name in names})
    compiled = statement.compile(dialect=conn.dialect)
    assert not compiled.positional or compiled.positiontup == names
    for rows in batches:
        if compiled.positional:
            conn.exec_driver_sql(compiled.string, rows)
        else:
            conn.exec_driver_sql(
                compiled.string, [dict(zip(names, row, strict=True)) for row in rows]
            )


def _bound(conn: Connection, column: Column[Any]) -> ColumnElement[Any]:
    value: ColumnElement[Any] = bindparam(column.name)
    if isinstance(column.type, JSON) and conn.dialect.name == "postgresql":
        # The JSON text goes in as it is; PostgreSQL wants it cast to JSONB. (A SQLite
        # CAST(? AS JSON) would apply NUMERIC affinity: there it goes in uncast.)
        return cast(value, column.type)
    return value


def _copy_rows(conn: Connection, table: Table, batches: Batches) -> None:
    """PostgreSQL's COPY FROM STDIN through psycopg, on the transaction's own connection."""
    import psycopg
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns),
    )
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for rows in batches:
                for row in rows:
                    copy.write_row(row)
    except psycopg.Error as exc:
        reason = str(exc).splitlines()[0]
        raise StoreError(f"cannot copy {table.name} into the target store: {reason}") from exc


def _drop_checks(conn: Connection, tables: list[Table]) -> None:
    """Drop the secondary indexes, and on PostgreSQL the foreign keys: building an index once
    and checking a key with one join at the end cost far less than doing either row by row
    (measured: 25% of a copy into PostgreSQL went to per-row key checks). In the copy's
    transaction, so a failure restores them. (SQLite cannot drop a foreign key in place.)"""
    for table in tables:
        if conn.dialect.name == "postgresql":
            for key in table.foreign_key_constraints:
                conn.execute(DropConstraint(key))
        for index in table.indexes:
            if not index.unique:
                index.drop(conn)


def _restore_checks(conn: Connection, tables: list[Table]) -> None:
    """Build the indexes and keys again (a copied row that breaks a key fails the copy here),
    then the planner's statistics of the new data."""
    if conn.dialect.name == "sqlite":
        # Sample instead of reading every index entry: the planner needs proportions only.
        conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
    for table in tables:
        for index in table.indexes:
            if not index.unique:
                index.create(conn)
        if conn.dialect.name == "postgresql":
            for key in table.foreign_key_constraints:
                conn.execute(AddConstraint(key))
        if conn.dialect.name in ("sqlite", "postgresql"):
            conn.exec_driver_sql("ANALYZE " + conn.dialect.identifier_preparer.format_table(table))


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Move each PostgreSQL serial sequence past the copied ids, so the next row inserted
    without an id does not collide (SQLite picks max(rowid) + 1 by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        conn.execute(select(func.setval(sequence, func.coalesce(func.max(column), 0) + 1, false())))
