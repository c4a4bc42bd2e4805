"""Alembic migrations, run from code: they build exactly schema.metadata, and only once."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from passcli.store import engine as store_engine
from passcli.store import make_engine, migrate, open_store, write_transaction
from passcli.store.migrate import HEAD_REVISION, current_revision, ensure_schema
from passcli.store.schema import metadata


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", "passcli.store:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@pytest.fixture
def empty_engine(database_url):
    """An engine on a store nothing has migrated yet."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def table_names(engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def test_head_revision_is_the_newest_migration_script():
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()

    assert heads == [HEAD_REVISION]


def test_migrating_an_empty_store_creates_every_table_of_the_schema(empty_engine):
    assert table_names(empty_engine) == set()

    assert ensure_schema(empty_engine) is True

    assert table_names(empty_engine) == {*metadata.tables, "alembic_version"}
    with empty_engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION


def test_migrating_an_empty_store_creates_every_index_of_the_schema(empty_engine):
    ensure_schema(empty_engine)

    with empty_engine.connect() as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            created = {index["name"] for index in inspector.get_indexes(table.name)}
            assert {index.name for index in table.indexes} <= created, table.name


def test_migrated_indexes_have_the_schemas_key_and_included_columns(empty_engine):
    """alembic's compare (test below) ignores PostgreSQL's INCLUDE columns: check them, and
    the key columns, against schema.py directly."""
    ensure_schema(empty_engine)
    postgres = empty_engine.dialect.name == "postgresql"

    with empty_engine.connect() as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            made = {
                index["name"]: (
                    index["column_names"],
                    index.get("dialect_options", {}).get("postgresql_include", []),
                )
                for index in inspector.get_indexes(table.name)
            }
            for index in table.indexes:
                included = index.dialect_options["postgresql"]["include"] if postgres else []
                expected = ([c.name for c in index.columns], list(included or []))
                assert made[index.name] == expected, index.name


def test_ensure_schema_a_second_time_does_nothing(empty_engine):
    assert ensure_schema(empty_engine) is True
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO items (id, name, kind) VALUES ('x', 'X', 'pass')"))

    assert ensure_schema(empty_engine) is False
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM items")).scalars().all() == ["x"]
        assert current_revision(conn) == HEAD_REVISION


def test_an_empty_store_has_no_revision(empty_engine):
    with empty_engine.connect() as conn:
        assert current_revision(conn) is None


def test_the_migrated_store_matches_the_schema_with_no_autogenerate_diff(empty_engine):
    ensure_schema(empty_engine)

    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)

    assert diff == []


def described(engine) -> dict[str, object]:
    """Everything the inspector tells of a store's tables, and its revision."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        tables: dict[str, object] = {
            name: (
                [
                    (c["name"], str(c["type"]), c["nullable"], c["default"])
                    for c in inspector.get_columns(name)
                ],
                inspector.get_pk_constraint(name),
                sorted(inspector.get_foreign_keys(name), key=lambda fk: str(fk["name"])),
                sorted(
                    # Partial indexes' WHERE comes back as a clause object: compare its text.
                    [
                        {
                            **i,
                            "dialect_options": {k: str(v) for k, v in i["dialect_options"].items()},
                        }
                        for i in inspector.get_indexes(name)
                    ],
                    key=lambda index: str(index["name"]),
                ),
                inspector.get_unique_constraints(name),
                inspector.get_check_constraints(name),
            )
            for name in sorted(inspector.get_table_names())
        }
        tables["alembic_version"] = current_revision(conn)
    return tables


def test_the_engine_fixtures_copy_of_the_migration_is_what_the_migration_builds(
    engine, new_database_url
):
    """`engine` is not migrated per test but copied from a store migrated once per session
    (tests/conftest.py: a file copy on SQLite, the migration's statements replayed on
    PostgreSQL); the copy must be exactly what alembic builds."""
    migrated = open_store(new_database_url())
    try:
        assert described(engine) == described(migrated)
    finally:
        migrated.dispose()


def test_the_initial_migration_downgrades_to_an_empty_store_and_upgrades_again(engine):
    with write_transaction(engine) as conn:
        command.downgrade(alembic_config(conn), "base")
    assert table_names(engine) <= {"alembic_version"}
    with engine.connect() as conn:
        assert current_revision(conn) is None

    assert ensure_schema(engine) is True
    assert table_names(engine) == {*metadata.tables, "alembic_version"}


def test_ensure_schema_racing_another_migrator_waits_and_does_not_fail(database_url, monkeypatch):
    """Two commands starting on a new store at once: the second sees an empty store, then
    waits for the first one's write lock, and alembic finds nothing left to do."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the write lock tested here is SQLite's")
    first, second = make_engine(database_url), make_engine(database_url)
    second_looked = threading.Event()
    real_current_revision = migrate.current_revision

    def spying(conn):
        revision = real_current_revision(conn)
        if threading.current_thread() is not threading.main_thread():
            second_looked.set()
        return revision

    monkeypatch.setattr(migrate, "current_revision", spying)
    outcome: dict[str, object] = {}

    def run_second() -> None:
        try:
            outcome["migrated"] = ensure_schema(second)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    racer = threading.Thread(target=run_second)
    try:
        with write_transaction(first) as conn:
            command.upgrade(alembic_config(conn), "head")
            racer.start()
            assert second_looked.wait(10), "the second migrator never looked at the store"
        racer.join(30)
        assert not racer.is_alive()
        assert "error" not in outcome, outcome.get("error")
        assert table_names(first) == {*metadata.tables, "alembic_version"}
        with first.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (HEAD_REVISION,)
            ]
    finally:
        first.dispose()
        second.dispose()


def test_a_store_that_cannot_be_reached_is_a_store_error(tmp_path):
    from passcli.errors import StoreError

    with pytest.raises(StoreError, match="does not exist"):
        make_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'passcli.db'}")


def test_a_database_url_that_is_not_a_url_is_a_usage_error():
    from passcli.errors import UsageError

    with pytest.raises(UsageError, match="is not a database URL"):
        make_engine("not a url")


def test_urls_in_messages_hide_the_password():
    shown = store_engine.safe_url("postgresql+psycopg://passcli:hunter2@db.example/passcli")

    assert "hunter2" not in shown
    assert shown == "postgresql+psycopg://passcli:***@db.example/passcli"


@pytest.mark.parametrize(
    ("query", "expected"), [("", store_engine.CONNECT_TIMEOUT), ("?connect_timeout=3", "3")]
)
def test_postgresql_connections_give_up_after_the_connect_timeout(query, expected):
    """A server that never answers (a blackholed address, a firewall dropping packets) fails
    the command after CONNECT_TIMEOUT seconds instead of hanging until the OS gives up; a
    connect_timeout in the URL wins."""
    from sqlalchemy import event

    pytest.importorskip("psycopg")
    engine = make_engine(f"postgresql+psycopg://passcli@192.0.2.1:5432/passcli{query}")
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def capture(dialect, record, cargs, cparams):
        seen.update(cparams)
        raise RuntimeError("not connecting in a test")

    with pytest.raises(Exception, match="not connecting"):
        engine.connect()
    assert seen["connect_timeout"] == expected
