"""`import_file`: read, normalise and write one file in one transaction.

The whole file is one write transaction, so a failure or `--strict` leaves the store as it
was; rows are still normalised and written in batches, so memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy import Connection, Engine, ForeignKeyConstraint, Table, literal, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import AddConstraint, DropConstraint

from passcli.errors import UsageError
from passcli.groups.members import match_pending_members
from passcli.importing import rows as r
from passcli.importing.fields import AttributeTyper
from passcli.importing.kinds import KINDS
from passcli.importing.produce import produce
from passcli.importing.readers import CsvReader, detect_format, open_text
from passcli.importing.report import ImportReport
from passcli.importing.writers import WRITERS
from passcli.sms.effects import match_inbound
from passcli.store.engine import write_transaction
from passcli.store.schema import customers, event_numbers, events, purchases, redemptions
from passcli.timeutil import to_epoch

TABLES: dict[str, tuple[Table, ...]] = {
    "customers": (customers,),
    "items": (),
    "purchases": (purchases,),
    "redemptions": (redemptions,),
    "events": (events, event_numbers),
    "bounces": (),
}

Progress = Callable[[int, int], None]
IMPORT_CACHE_KIB = 96 * 1024


class _StrictRollback(Exception):
    """Raised inside the transaction to undo a --strict import that rejected rows."""


def import_file(
    engine: Engine,
    kind: str,
    path: Path,
    *,
    tz: tzinfo,
    region: str,
    now: datetime,
    fmt: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one file of `kind` (SPEC §2). Raises UsageError for a file that cannot be read
    as that kind at all; rejected rows are in the report."""
    if kind not in KINDS:
        raise UsageError(f"unknown import kind {kind!r}: use one of {', '.join(KINDS)}")
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    file_format = detect_format(path, fmt)
    if kind == "events" and file_format != "jsonl":
        raise UsageError("events are imported from JSON Lines only (.jsonl or .ndjson)")
    if kind not in ("customers", "events") and file_format != "csv":
        raise UsageError(f"{kind} are imported from CSV only")

    report = ImportReport(kind=kind, file=path.name, strict=strict)
    ctx = r.RowContext(tz=tz, region=region, now=to_epoch(now))
    if file_format == "csv":
        _check_header(path, kind)
        ctx = _with_attribute_kinds(path, kind, ctx)
    total = path.stat().st_size
    batches = produce(path, kind, file_format, ctx)

    deferred: list[Table] = []
    try:
        with write_transaction(engine) as conn, _bulk_pragmas(conn):
            deferred = defer_indexes(conn, TABLES[kind])
            writer = WRITERS[kind](conn, report, to_epoch(now))
            for batch in batches:
                for line, reason in batch.rejected:
                    report.reject(line, reason)
                writer.write(batch.rows)
                if progress is not None:
                    progress(batch.bytes_read, total)
            if strict and report.rejected:
                raise _StrictRollback
            rebuild_indexes(conn, deferred)
            if kind in ("customers", "events"):
                # New emails and phones: group members added by an address no customer had,
                # and texts from such phones, now reach their customers (SPEC §8).
                match_pending_members(conn)
                match_inbound(conn)
    except _StrictRollback:
        report.loaded = False
        report.inserted = report.updated = report.skipped = 0
        deferred = []
    finally:
        batches.close()  # release the file even when writing failed
    vacuum(engine, deferred)
    report.rejections.sort(key=lambda rejection: rejection.line)
    return report


@contextmanager
def _bulk_pragmas(conn: Connection) -> Iterator[None]:
    """A large page cache for the import's connection, then the default again.

    SQLite's default 2 MB cache makes a million-row load and its index sorts spill to
    temporary files; 96 MB keeps most of that in memory and the process under 500 MB.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    mapped = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
    # Pages read through mmap count in the process's memory: an import reads its way through
    # whole indexes, and its own cache already holds what it needs.
    conn.exec_driver_sql("PRAGMA mmap_size = 0")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(previous or -2000)}")
        conn.exec_driver_sql(f"PRAGMA mmap_size = {int(mapped or 0)}")


def defer_indexes(conn: Connection, tables: tuple[Table, ...]) -> list[Table]:
    """Drop the secondary indexes of the tables that are empty now, and on PostgreSQL the
    foreign keys between them, for `rebuild_indexes`.

    Building an index once over sorted keys costs far less than keeping it up to date row by
    row (measured: 2.5x on redemptions), so a first, large import loads bare tables. All of
    it runs in the import's transaction: a failure leaves the tables as they were.

    PostgreSQL checks a foreign key with a trigger per row (measured: 4.5 µs a row, 3.5 s of
    a 4.3 s server-side load of 600k redemptions); added back at the end, the key is checked
    by one join instead. Only keys between the emptied tables are dropped (event_numbers to
    events): dropping a key locks the table it refers to against reads too until the import
    commits, which these tables' dropped indexes do already; the keys to `customers` stay,
    so that segment previews, sends and run-due can read customers during a first import.
    (SQLite cannot drop a foreign key in place; there, its check is one index probe.)
    """
    emptied = [
        table
        for table in tables
        if conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None
    ]
    for table in emptied:
        for key in _internal_keys(conn, table, emptied):
            conn.execute(DropConstraint(key))
        for index in table.indexes:
            if not index.unique:
                index.drop(conn)
    return emptied


def rebuild_indexes(conn: Connection, tables: list[Table]) -> None:
    if tables and conn.dialect.name == "sqlite":
        # Sample instead of reading every index entry: the planner needs proportions only.
        conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
    for table in tables:
        for index in table.indexes:
            if not index.unique:
                index.create(conn)
        for key in _internal_keys(conn, table, tables):
            conn.execute(AddConstraint(key))
        conn.execute(text(f"ANALYZE {table.name}"))


def _internal_keys(
    conn: Connection, table: Table, tables: list[Table]
) -> list[ForeignKeyConstraint]:
    """On PostgreSQL, the foreign keys of `table` that refer to one of `tables`."""
    if conn.dialect.name != "postgresql":
        return []
    return [key for key in table.foreign_key_constraints if key.referred_table in tables]


def vacuum(engine: Engine, tables: list[Table]) -> None:
    """On PostgreSQL, VACUUM the tables a first import just filled, once it has committed.

    Rows loaded in bulk are not yet marked visible to all in the table's visibility map, so
    until autovacuum gets to them (throttled: minutes for millions of rows) every index-only
    scan of a segment still reads the table's pages, and the first reads set hint bits (a
    write per page). VACUUM does both at once (outside any transaction, which it cannot run
    in). The import has committed by then: a failure here costs only that speed until
    autovacuum does the same, so it is not reported as a failed import.
    """
    if not tables or engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            quote = conn.dialect.identifier_preparer.format_table
            for table in tables:
                conn.exec_driver_sql(f"VACUUM {quote(table)}")
    except SQLAlchemyError:
        pass


def _check_header(path: Path, kind: str) -> None:
    """A CSV file whose header cannot be this kind's is bad usage: nothing is loaded."""
    with open_text(path) as handle:
        header = CsvReader(handle, path.name).header
    missing = [c for c in r.REQUIRED_HEADERS[kind] if c not in header]
    if missing:
        raise UsageError(
            f"{path.name} is not a {kind} CSV file: its header lacks {', '.join(missing)} "
            f"(expected {','.join(r.HEADERS[kind])})"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise UsageError(f"{path.name}: the header names {', '.join(duplicated)} twice")
    if kind != "customers":
        extra = [c for c in header if c not in r.HEADERS[kind]]
        if extra:
            raise UsageError(
                f"{path.name}: unknown column {', '.join(extra)} for {kind} "
                f"(expected {','.join(r.HEADERS[kind])})"
            )


def _with_attribute_kinds(path: Path, kind: str, ctx: r.RowContext) -> r.RowContext:
    """Type every extra customers column by all its values (SPEC §2): a first pass."""
    if kind != "customers":
        return ctx
    with open_text(path) as handle:
        reader = CsvReader(handle, path.name)
        extra = [c for c in reader.header if c not in r.CUSTOMER_COLUMNS]
        if not extra:
            return ctx
        typers = {column: AttributeTyper() for column in extra}
        for raw in reader:
            for column, typer in typers.items():
                value = raw.values.get(column)
                if value is not None:
                    typer.see(value)
    kinds = {column: typer.kind for column, typer in typers.items()}
    return r.RowContext(tz=ctx.tz, region=ctx.region, now=ctx.now, attribute_kinds=kinds)
