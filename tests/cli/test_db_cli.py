"""`passcli db copy --to URL` end to end: the JSON document, the table, refusals, exit codes,
and a target that then works as the project's store."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from passcli.cli.app import app
from passcli.store import make_engine
from passcli.store.schema import deliveries, metadata

TABLES = [table.name for table in metadata.sorted_tables]
LATER = "2026-11-22T12:00:00-07:00"


def invoke(runner, *args):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`passcli demo`, then one real send (runs, occurrences, deliveries)."""
    from typer.testing import CliRunner

    directory = tmp_path_factory.mktemp("demo") / "project"
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("PASSCLI_")]:
            patch.delenv(key)
        runner = CliRunner()
        for args in (
            ["demo", directory],
            ["--project", directory, "send", "new-additions", "--yes"],
        ):
            result = invoke(runner, *args)
            assert result.exit_code == 0, result.stderr
    return directory


@pytest.fixture
def project(demo_project: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo project (its store is the copy's source)."""
    return Path(shutil.copytree(demo_project, tmp_path / "source"))


def source_url(project: Path) -> str:
    return f"sqlite:///{project / 'passcli.db'}"


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        found = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }
    engine.dispose()
    return found


def test_db_copy_json_is_the_documented_shape_with_every_tables_count(
    runner, project, database_url
):
    expected = counts(source_url(project))

    result = invoke(runner, "--project", project, "db", "copy", "--to", database_url, "--json")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == {
        "from": source_url(project),
        "to": make_url(database_url).render_as_string(hide_password=True),
        "tables": expected,
        "rows": sum(expected.values()),
    }
    assert list(document["tables"]) == TABLES
    assert expected["deliveries"] > 0 and expected["customers"] == 302
    assert counts(database_url) == expected


def test_db_copy_prints_a_table_of_counts_and_a_summary(runner, project, database_url):
    expected = counts(source_url(project))

    result = invoke(runner, "db", "copy", "--to", database_url, "--project", project)

    assert result.exit_code == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    assert {name: int(line[-1].replace(",", "")) for name, line in lines.items()} == expected
    assert result.stderr.startswith(f"copied {sum(expected.values()):,} rows from sqlite:///")
    assert result.stderr.rstrip().endswith("counts match")


def test_the_copied_store_serves_the_project_segments_sends_and_imports(
    runner, project, database_url, monkeypatch, tmp_path
):
    before = invoke(runner, "--project", project, "segment", "list", "--json")
    assert invoke(runner, "--project", project, "db", "copy", "--to", database_url).exit_code == 0
    monkeypatch.setenv("PASSCLI_DATABASE_URL", database_url)

    after = invoke(runner, "--project", project, "segment", "list", "--json")
    sent = invoke(
        runner,
        "--project",
        project,
        "send",
        "expiration-reminder",
        "--yes",
        "--now",
        LATER,
        "--json",
    )
    event = tmp_path / "events.jsonl"
    event.write_text(
        '{"type": "track", "userId": "c0000001", "event": "Session Started", '
        '"timestamp": "2026-11-22T18:00:00Z", "messageId": "after-the-copy"}\n',
        encoding="utf-8",
    )
    imported = invoke(runner, "--project", project, "import", "events", event, "--json")

    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    # New rows get ids past the copied ones (PostgreSQL's sequences were moved on).
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(sent.stdout)["sent"]["email"] > 0, sent.stdout[:600]
    assert imported.exit_code == 0, imported.stderr
    engine = make_engine(database_url)
    with engine.connect() as conn:
        occurrences = conn.execute(select(func.count(func.distinct(deliveries.c.send_key))))
        assert occurrences.scalar_one() == 2
    engine.dispose()


def test_a_target_that_is_not_empty_is_refused_with_exit_2_and_left_as_it_was(
    runner, project, database_url
):
    assert invoke(runner, "--project", project, "db", "copy", "--to", database_url).exit_code == 0
    copied = counts(database_url)

    result = invoke(runner, "--project", project, "db", "copy", "--to", database_url, "--json")

    assert result.exit_code == 2
    assert result.stdout == ""
    shown = make_url(database_url).render_as_string(hide_password=True)
    assert result.stderr == (
        f"error: the target store {shown} is not empty (customers has rows): "
        "passcli copies only into an empty store\n"
    )
    assert counts(database_url) == copied


def test_copying_the_store_onto_itself_is_refused(runner, project):
    result = invoke(runner, "--project", project, "db", "copy", "--to", source_url(project))

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: the source and the target are the same store ({source_url(project)})\n"
    )


def test_a_to_that_is_not_a_url_is_bad_usage_and_not_echoed(runner, project):
    result = invoke(runner, "--project", project, "db", "copy", "--to", "hunter2 at db.example")

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --to is not a database URL (expected, e.g., postgresql+psycopg://USER@HOST/DB)\n"
    )


def test_an_unreachable_target_is_one_line_with_its_password_hidden(runner, project):
    url = "postgresql+psycopg://passcli:hunter2@127.0.0.1:1/passcli"

    result = invoke(runner, "--project", project, "db", "copy", "--to", url, "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: target store postgresql+psycopg://passcli:***@127.0.0.1:1/passcli: "
    )
    assert "hunter2" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_a_password_in_the_target_url_is_masked_in_the_json_document(runner, project, database_url):
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("SQLite URLs hold no password")
    if url.password is None:
        url = url.set(password="hunter2")  # ignored by a server that trusts the test user
    secret = str(url.password)

    result = invoke(
        runner,
        "--project",
        project,
        "db",
        "copy",
        "--to",
        url.render_as_string(hide_password=False),
        "--json",
    )

    assert result.exit_code == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert json.loads(result.stdout)["to"] == url.render_as_string(hide_password=True)


def test_db_copy_requires_to_and_documents_it(runner, project):
    missing = invoke(runner, "--project", project, "db", "copy")
    helped = invoke(runner, "db", "copy", "--help")
    group = invoke(runner, "db", "--help")

    assert missing.exit_code == 2
    assert "--to" in missing.stderr
    assert helped.exit_code == 0
    assert "--to" in helped.stdout and "empty store" in helped.stdout
    assert "copy" in group.stdout
