"""`copy_store`: every table, identical rows, counts checked, one transaction on the target.

The source is a SQLite project built from the bundled example data, with sends, a local-time
run, an unsubscribe and an audience sync, so that every table of the schema holds rows; the
target is the `database_url` store (SQLite, or a fresh PostgreSQL schema with --database-url).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, inspect, null, select
from sqlalchemy.engine import make_url

from journeys import seed
from passcli import sampledata
from passcli.cli.app import app
from passcli.errors import StoreError, UsageError
from passcli.importing.load import import_file
from passcli.project import require_project
from passcli.segments.evaluate import member_ids
from passcli.store import copy as store_copy
from passcli.store import make_engine, open_store
from passcli.store.copy import copy_store, same_database
from passcli.store.migrate import HEAD_REVISION, current_revision
from passcli.store.schema import (
    consent_changes,
    deliveries,
    events,
    group_members,
    inbound_messages,
    metadata,
    occurrences,
    offer_uses,
    rate_slots,
)
from passcli.timeutil import zone

TABLES = [table.name for table in metadata.sorted_tables]
NOW = sampledata.REFERENCE_NOW
TZ = zone(sampledata.TIMEZONE)

LOCAL_TIME_MESSAGE = """
  local-hello:
    title: Local hello
    segments: [high-ltv]
    channel: email
    subject: Hello
    body: "Hi {{ customerFirstName }}: {{ unsubscribeLink }}"
    schedule: {at: "2026-11-22 09:00", local_time: true}
"""


def build_source(directory: Path) -> Path:
    """The demo project, after a send, an unsubscribe, a run-due with a local-time message and
    the seed 003 journey,
    an audience sync, plus an occurrence without counts (a SQL NULL in a JSON column)."""
    from typer.testing import CliRunner

    runner = CliRunner()

    def passcli(*args: str) -> str:
        result = runner.invoke(app, ["--project", str(directory), *args])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    passcli("demo", str(directory))
    with (directory / "messages.yaml").open("a", encoding="utf-8") as handle:
        handle.write(LOCAL_TIME_MESSAGE)
    passcli("send", "expiration-reminder", "--yes")
    mail = sorted((directory / "outbox").glob("*/*"))[0].read_text(encoding="utf-8")
    passcli("unsubscribe", re.search(r"token=([\w.-]+)", mail).group(1))
    # the seed 003 journey: its noon slot in New York is due at the demo's instant
    (directory / "journeys.yaml").write_text(seed.JOURNEYS, encoding="utf-8")
    with (directory / "messages.yaml").open("a", encoding="utf-8") as handle:
        handle.write(seed.MESSAGES)
    passcli("run-due")
    passcli("segment", "sync", "high-ltv", "--to", str(directory / "high-ltv.jsonl"))
    engine = make_engine(f"sqlite:///{directory / 'passcli.db'}")
    with engine.begin() as conn:
        conn.execute(
            insert(occurrences).values(
                message="top-explorer-survey",
                kind="scheduled",
                occurrence="2026-11-01T19:00:00Z",
                status="missed",
                due_at=NOW,
                counts=null(),
            )
        )
        conn.execute(
            insert(group_members),
            [
                {
                    "group_name": "vip",
                    "customer_id": "c0000001",
                    "address": "a@example.com",
                    "source": "manual",
                    "added_at": NOW,
                },
                {
                    "group_name": "vip",
                    "customer_id": None,
                    "address": "later@example.com",
                    "source": "manual",
                    "added_at": NOW,
                },
            ],
        )
        conn.execute(
            insert(inbound_messages).values(
                provider_id="SM1",
                phone="+13035550100",
                body=" loyalty ",
                keyword="LOYALTY",
                action="join",
                group_name="loyalty",
                customer_id=None,
                received_at=NOW,
            )
        )
        conn.execute(
            insert(offer_uses).values(
                offer="member-free-entry", customer_id="c0000002", attendees=2, used_at=NOW
            )
        )
        conn.execute(insert(rate_slots).values(transport="sms", next_at=1_796_000_000.5))
    engine.dispose()
    return directory


@pytest.fixture(scope="session")
def source_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("PASSCLI_")]:
            patch.delenv(key)
        return build_source(tmp_path_factory.mktemp("source") / "project")


@pytest.fixture
def source(source_project: Path, tmp_path: Path):
    """An engine on a fresh copy of the source store."""
    path = tmp_path / "source.db"
    with closing(sqlite3.connect(source_project / "passcli.db")) as built:
        with closing(sqlite3.connect(path)) as fresh:
            built.backup(fresh)
    engine = open_store(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def target(database_url: str):
    """An engine on a store nothing has migrated yet: the copy migrates it."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def indexes_and_keys(engine: Engine) -> tuple[set[str], set[str]]:
    """The names of the secondary indexes and foreign keys the store has: the copy drops
    them while it loads and must put every one back."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        indexes = {i["name"] for name in TABLES for i in inspector.get_indexes(name)}
        keys = {k["name"] for name in TABLES for k in inspector.get_foreign_keys(name)}
    expected = {index.name for table in metadata.sorted_tables for index in table.indexes}
    assert expected <= indexes
    return indexes & expected, keys


def rows(engine: Engine, table) -> list[tuple]:
    """Every row as passcli reads it (datetimes, dicts, bools), in primary-key order."""
    key = [table.columns.keys().index(column.name) for column in table.primary_key]
    with engine.connect() as conn:
        found = [tuple(row) for row in conn.execute(select(table))]
    return sorted(found, key=lambda row: [row[i] for i in key])


def test_every_table_is_copied_with_the_source_counts(source, target):
    expected = counts(source)
    assert all(expected.values()), f"a table is empty in the source: {expected}"

    report = copy_store(source, target)

    assert list(report.tables) == TABLES
    assert report.tables == expected
    assert report.rows == sum(expected.values())
    assert counts(target) == expected
    assert (report.source, report.target) == (str(source.url), str(target.url))
    with target.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    assert indexes_and_keys(target) == indexes_and_keys(source)


@pytest.mark.parametrize("name", TABLES)
def test_copied_rows_are_identical_to_the_source(source, target, name):
    copy_store(source, target)
    table = metadata.tables[name]

    assert rows(target, table) == rows(source, table)


def test_copying_back_from_the_target_gives_the_source_rows(source, target, tmp_path):
    back = make_engine(f"sqlite:///{tmp_path / 'back.db'}")

    copy_store(source, target)
    report = copy_store(target, back)  # from PostgreSQL when the target is PostgreSQL

    assert report.tables == counts(source)
    for table in metadata.sorted_tables:
        assert rows(back, table) == rows(source, table), table.name
    back.dispose()


def test_json_booleans_and_instants_keep_their_values_and_sql_nulls(source, target):
    copy_store(source, target)
    customers = metadata.tables["customers"]
    persona = select(customers).where(customers.c.id == "c0000005")  # Sofia Ramírez
    no_counts = select(func.count()).where(occurrences.c.counts.is_(None))

    with source.connect() as conn:
        expected = conn.execute(persona).one()
        unsubscribed = conn.execute(select(consent_changes)).one()
    with target.connect() as conn:
        copied = conn.execute(persona).one()
        assert conn.execute(select(consent_changes)).one() == unsubscribed
        assert conn.execute(no_counts).scalar_one() == 1  # a SQL NULL, not JSON null

    assert copied == expected
    assert copied.attributes == {"city": "Denver", "birthday_month": 6}
    assert isinstance(copied.email_opt_in, bool) and isinstance(copied.sms_opt_in, bool)
    assert copied.created_at.tzinfo is not None
    assert unsubscribed.opted_in is False and unsubscribed.source == "unsubscribe"


def test_every_example_segment_has_the_same_members_on_the_target(source, target, source_project):
    copy_store(source, target)
    segments = require_project(source_project, None).segments

    for name in segments:
        query = member_ids(segments, name, NOW, TZ)
        with source.connect() as conn:
            expected = set(conn.execute(query).scalars())
        with target.connect() as conn:
            assert set(conn.execute(query).scalars()) == expected, name
        assert expected, f"{name} is empty in the example data"


def test_rows_inserted_after_the_copy_get_new_ids(source, target, tmp_path):
    copy_store(source, target)
    before = {
        table.name: max(row[0] for row in rows(target, table))
        for table in (events, deliveries, consent_changes, occurrences)
    }
    new_events = tmp_path / "events.jsonl"
    new_events.write_text(
        json.dumps(
            {
                "type": "track",
                "userId": "c0000001",
                "event": "Session Started",
                "timestamp": "2026-11-22T16:59:00Z",
                "messageId": "after-the-copy",
            }
        )
        + "\n",
        encoding="utf-8",
    )

    report = import_file(target, "events", new_events, tz=TZ, region="US", now=NOW)
    with target.begin() as conn:
        occurrence = conn.execute(
            insert(occurrences)
            .values(message="m", kind="manual", occurrence="after", status="done")
            .returning(occurrences.c.id)
        ).scalar_one()
        delivery = conn.execute(
            insert(deliveries)
            .values(
                send_key="after",
                recipient="c0000001",
                kind="message",
                occurrence_id=occurrence,
                channel="email",
                address="a@example.com",
                status="sent",
                attempts=1,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(deliveries.c.id)
        ).scalar_one()
        change = conn.execute(
            insert(consent_changes)
            .values(customer_id="c0000001", channel="sms", opted_in=True, source="import", at=NOW)
            .returning(consent_changes.c.id)
        ).scalar_one()

    assert report.inserted == 1
    with target.connect() as conn:
        event = conn.execute(
            select(events.c.id).where(events.c.message_id == "after-the-copy")
        ).scalar_one()
    assert event > before["events"]
    assert occurrence > before["occurrences"]
    assert delivery > before["deliveries"]
    assert change > before["consent_changes"]


def test_a_target_with_rows_is_refused_and_left_as_it_was(source, database_url):
    target = open_store(database_url)
    with target.begin() as conn:
        conn.execute(insert(metadata.tables["items"]).values(id="x", name="X", kind="pass"))

    with pytest.raises(UsageError, match=r"is not empty \(items has rows\)"):
        copy_store(source, target)

    assert counts(target) == {name: int(name == "items") for name in TABLES}
    target.dispose()


def test_the_same_store_is_refused(source, tmp_path):
    assert make_url(str(source.url)).database == str(tmp_path / "source.db")
    alias = make_engine(f"sqlite:///{tmp_path}/../{tmp_path.name}/source.db")

    with pytest.raises(UsageError, match="the source and the target are the same store"):
        copy_store(source, alias)

    alias.dispose()


def test_a_source_behind_the_schema_is_refused_and_the_target_untouched(tmp_path, target):
    stale = make_engine(f"sqlite:///{tmp_path / 'stale.db'}")

    with pytest.raises(UsageError, match=rf"revision \(none\), not {HEAD_REVISION}"):
        copy_store(stale, target)

    with target.connect() as conn:
        assert inspect(conn).get_table_names() == []
    stale.dispose()


def test_an_unreachable_target_is_a_store_error_naming_it_without_its_password(source):
    target = make_engine("postgresql+psycopg://passcli:hunter2@127.0.0.1:1/passcli")

    with pytest.raises(StoreError) as caught:
        copy_store(source, target)

    message = str(caught.value)
    assert message.startswith("target store postgresql+psycopg://passcli:***@127.0.0.1:1/passcli")
    assert "hunter2" not in message
    assert "\n" not in message


def test_a_failure_mid_copy_leaves_the_target_empty_with_its_indexes(source, target):
    seen: list[str] = []

    def fail_in_events(table: str, done: int, total: int) -> None:
        seen.append(table)
        if table == "events":
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        copy_store(source, target, progress=fail_in_events, batch=100)

    assert "customers" in seen  # tables before events were written, then rolled back
    assert set(counts(target).values()) == {0}
    assert indexes_and_keys(target) == indexes_and_keys(source)


def test_a_count_mismatch_fails_the_copy_and_writes_nothing(source, target, monkeypatch):
    real = store_copy._count

    def one_short_on_the_target(conn, table):
        found = real(conn, table)
        return found - 1 if conn.engine is target and table.name == "customers" else found

    monkeypatch.setattr(store_copy, "_count", one_short_on_the_target)
    expected = counts(source)["customers"]

    with pytest.raises(StoreError) as caught:
        copy_store(source, target)

    assert str(caught.value) == (
        f"copy check failed: customers has {expected} rows in the source but {expected - 1} "
        "in the target; nothing was copied"
    )
    assert set(counts(target).values()) == {0}


def test_progress_reaches_each_tables_count(source, target):
    calls: list[tuple[str, int, int]] = []

    report = copy_store(source, target, progress=lambda *call: calls.append(call), batch=500)

    last = {table: (done, total) for table, done, total in calls}
    assert last == {name: (count, count) for name, count in report.tables.items()}
    events_done = [done for table, done, _ in calls if table == "events"]
    assert events_done == sorted(events_done)
    assert events_done[0] == 500


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("sqlite:////srv/p/passcli.db", "sqlite:////srv/p/../p/passcli.db", True),
        ("sqlite:////srv/p/passcli.db", "sqlite:////srv/q/passcli.db", False),
        ("sqlite://", "sqlite://", False),
        ("sqlite:////srv/p/passcli.db", "postgresql+psycopg://h/passcli", False),
        ("postgresql+psycopg://a:x@h/passcli", "postgresql+psycopg://b:y@h/passcli", True),
        ("postgresql+psycopg://h/passcli", "postgresql+psycopg://h/other", False),
        (
            "postgresql+psycopg://h/db?options=-csearch_path%3Dx",
            "postgresql+psycopg://h/db?options=-csearch_path%3Dy",
            False,
        ),
    ],
)
def test_same_database_compares_what_names_a_store(a, b, same):
    assert same_database(make_url(a), make_url(b)) is same
