"""Shared fixtures: a clean environment, tiny migrated stores, a CLI runner.

Tests run on SQLite by default; `--database-url postgresql+psycopg://...` (or
PASSCLI_TEST_DATABASE_URL) runs the store-backed tests against that server instead, each test
on a fresh schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from passcli.store import open_store

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-url",
        default=os.environ.get("PASSCLI_TEST_DATABASE_URL"),
        help="run store tests against this database (default: a SQLite file per test)",
    )


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PASSCLI_* setting leaks in from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("PASSCLI_") and key != "PASSCLI_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a fresh schema on the --database-url server."""
    server = request.config.getoption("--database-url")
    if not server:
        yield f"sqlite:///{tmp_path / 'passcli.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in server else "?"
    yield f"{server}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty store."""
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


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
