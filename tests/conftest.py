"""Shared fixtures: a clean environment, tiny migrated stores, the example data, a CLI runner.

Tests run on SQLite by default; `--database-url postgresql+psycopg://...` (or
PASSCLI_TEST_DATABASE_URL) runs every store-backed test against that server instead, each
test on a fresh schema. The schema is named in the URL (`options=-csearch_path=...`), so
`passcli` processes a test starts with that URL use the test's schema too.

Migrating a store per test would cost more than most tests take (alembic's upgrade is ~70 ms
on PostgreSQL), so `engine` starts from a template migrated once per session: on SQLite a
copy of the template's file, on PostgreSQL the statements the template's migration ran,
replayed in one round trip. Templates holding data (the example data set) are built once per
session the same way, and `Stores.load` copies their rows into a test's store.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, make_url, text
from typer.testing import CliRunner

from passcli import sampledata
from passcli.store import make_engine, open_store
from passcli.store.migrate import ensure_schema
from passcli.store.schema import metadata

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-url",
        default=os.environ.get("PASSCLI_TEST_DATABASE_URL"),
        help="run store tests against this database (default: a SQLite file per test)",
    )


class Stores:
    """Empty stores for tests, and template stores built once per session to copy from.

    On SQLite a store is a file, on PostgreSQL a schema of the `server` database; a template
    is one too. Every schema made here is dropped again: a test's when the test ends, the
    templates when the session does.
    """

    def __init__(self, server: str | None, folder: Path) -> None:
        self.server = server
        self.folder = folder  # the SQLite templates
        self.admin = create_engine(server) if server else None
        self.schemas: dict[str, str] = {}  # URL -> schema, PostgreSQL only
        self.templates: dict[str, str] = {}  # name -> URL
        self.migration = ""  # PostgreSQL: the template's migration, as one script
        self.row_copies: dict[str, Callable[[str], str]] = {}  # template URL -> script

    @property
    def backend(self) -> str:
        return "sqlite" if self.server is None else "postgresql"

    def empty(self, path: Path) -> str:
        """The URL of a new, empty store: the SQLite file `path` (not created), or a new
        schema on the server."""
        if self.server is None:
            return f"sqlite:///{path}"
        schema = f"t_{uuid.uuid4().hex[:12]}"
        self._script(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in self.server else "?"
        url = f"{self.server}{separator}options=-csearch_path%3D{schema}"
        self.schemas[url] = schema
        return url

    def drop(self, url: str) -> None:
        schema = self.schemas.pop(url, None)
        if schema is not None:
            # A connection a failed test left inside a transaction would block the drop for
            # ever; time out instead, and say so.
            self._script(f"SET LOCAL lock_timeout = '30s'; DROP SCHEMA \"{schema}\" CASCADE")

    def migrate(self, url: str) -> None:
        """Bring the empty store at `url` to the newest schema, as a copy of the migrated
        template; a store something has already created is left alone (`open_store` then
        brings it up to date, as it would in production)."""
        template = self.migrated()
        if self.server is None:
            path = Path(make_url(url).database or "")
            if not path.exists():
                shutil.copyfile(Path(make_url(template).database or ""), path)
            return
        schema = self.schemas[url]
        with self._admin().connect() as conn:
            version = conn.execute(
                text("SELECT to_regclass(:t)"), {"t": f"{schema}.alembic_version"}
            )
            created = version.scalar() is not None
        if not created:
            self._script(f'SET LOCAL search_path TO "{schema}";\n{self.migration}')

    def migrated(self) -> str:
        """The URL of the template store that alembic migrated (once per session)."""
        if "migrated" in self.templates:
            return self.templates["migrated"]
        url = self.empty(self.folder / "migrated.db")
        engine = make_engine(url)
        statements: list[str] = []
        if self.server is not None:

            @event.listens_for(engine, "before_cursor_execute")
            def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
                if statement.lstrip().upper().startswith(("SELECT", "SHOW")):
                    return  # alembic looking, not changing anything
                assert not parameters, f"cannot replay a statement with parameters: {statement}"
                statements.append(statement.strip())

        ensure_schema(engine)
        _close(engine)
        self.migration = ";\n".join(statements)
        self.templates["migrated"] = url
        return url

    def template(self, name: str, build: Callable[[Engine], None]) -> str:
        """The URL of a template store: migrated, then filled by `build` (once per session)."""
        if name in self.templates:
            return self.templates[name]
        url = self.empty(self.folder / f"{name}.db")
        self.migrate(url)
        engine = open_store(url)
        build(engine)
        _close(engine)
        self.templates[name] = url
        if self.server is not None:
            self.row_copies[url] = self._row_copy(self.schemas[url])
        return url

    def load(self, template: str, url: str) -> None:
        """Copy every row of `template` into the migrated, empty store at `url`."""
        tables = [t.name for t in metadata.sorted_tables]
        if self.server is not None:
            self._script(self.row_copies[template](self.schemas[url]))
            return
        engine = make_engine(url)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("ATTACH DATABASE ? AS template", (make_url(template).database,))
            cursor.execute("BEGIN IMMEDIATE")
            for table in tables:
                cursor.execute(f'INSERT INTO main."{table}" SELECT * FROM template."{table}"')
            cursor.execute("COMMIT")
            cursor.execute("DETACH DATABASE template")
        finally:
            raw.close()
            engine.dispose()

    def close(self) -> None:
        for url in list(self.schemas):
            self.drop(url)
        if self.admin is not None:
            self.admin.dispose()

    def _row_copy(self, source: str) -> Callable[[str], str]:
        """A script copying the rows of schema `source` into a schema, sequences included."""
        with self._admin().connect() as conn:
            sequences = conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :schema AND c.relkind = 'S'"
                ),
                {"schema": source},
            ).scalars()
            names = sorted(sequences)

        def script(target: str) -> str:
            # Both schemas come from the same migration: their columns are in the same order.
            inserts = [
                f'INSERT INTO "{target}"."{t.name}" SELECT * FROM "{source}"."{t.name}"'
                for t in metadata.sorted_tables
            ]
            setvals = [
                f'SELECT setval(\'"{target}"."{s}"\', last_value, is_called) FROM "{source}"."{s}"'
                for s in names
            ]
            return ";\n".join(inserts + setvals)

        return script

    def _admin(self) -> Engine:
        assert self.admin is not None, "PostgreSQL only"
        return self.admin

    def _script(self, sql: str) -> None:
        """Run semicolon-separated statements in one transaction and one round trip (psycopg
        sends a statement without parameters as a simple query, which may hold several)."""
        with self._admin().begin() as conn:
            conn.connection.driver_connection.execute(sql)


def _close(engine: Engine) -> None:
    """Dispose of an engine, leaving a SQLite store's file complete (its WAL checkpointed)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PASSCLI_* setting leaks in from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("PASSCLI_") and key != "PASSCLI_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Stores on the backend under test: SQLite, or the --database-url server."""
    found = Stores(request.config.getoption("--database-url"), tmp_path_factory.mktemp("stores"))
    yield found
    found.close()


@pytest.fixture
def backend(stores: Stores) -> str:
    """The backend the store-backed tests run on: "sqlite" or "postgresql"."""
    return stores.backend


@pytest.fixture
def new_database_url(stores: Stores, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes URLs of empty stores, for a test that needs more than `database_url`."""
    made: list[str] = []

    def new() -> str:
        name = "passcli.db" if not made else f"passcli-{len(made) + 1}.db"
        made.append(stores.empty(tmp_path / name))
        return made[-1]

    yield new
    for url in made:
        stores.drop(url)


@pytest.fixture
def database_url(new_database_url: Callable[[], str]) -> str:
    """A URL of an empty store: a SQLite file, or a fresh schema on the --database-url server."""
    return new_database_url()


@pytest.fixture
def engine(stores: Stores, database_url: str) -> Iterator[Engine]:
    """A migrated, empty store."""
    stores.migrate(database_url)
    store = open_store(database_url)
    yield store
    store.dispose()


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised project directory whose store is `database_url`."""
    from passcli.scaffold import init_project

    directory = tmp_path / "project"
    init_project(directory)
    monkeypatch.setenv("PASSCLI_DATABASE_URL", database_url)
    return directory


@pytest.fixture(scope="session")
def example_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example data set (`passcli.sampledata`, the same bytes as examples/)."""
    folder = tmp_path_factory.mktemp("examples")
    sampledata.generate(folder)
    return folder


def import_example_files(engine: Engine, folder: Path) -> None:
    """The example data, imported in its documented order as of its reference instant."""
    from passcli.importing.load import import_file
    from passcli.timeutil import zone

    for name in sampledata.FILES:
        report = import_file(
            engine,
            name.split(".")[0],
            folder / name,
            tz=zone(sampledata.TIMEZONE),
            region="US",
            now=sampledata.REFERENCE_NOW,
        )
        assert report.rejected == 0, report.rejections


@pytest.fixture(scope="session")
def example_template(stores: Stores, example_files: Path) -> str:
    """A template store holding the example data, imported once per session."""
    return stores.template("examples", lambda engine: import_example_files(engine, example_files))


@pytest.fixture
def example_engine(stores: Stores, example_template: str, database_url: str, engine: Engine):
    """`engine`, holding the example data (a copy of the session's import of it)."""
    stores.load(example_template, database_url)
    return engine


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: on two xdist workers the longest test then starts at once, and the
    other worker (stealing work) runs the rest beside it, instead of it starting last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
