"""`passcli init [DIR] [--force]`: project files, a secret key that is never shown, a store.

On SQLite, init creates the default store, the project's own passcli.db; on PostgreSQL it
creates the store PASSCLI_DATABASE_URL names: the test's schema.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from passcli.cli.app import app
from passcli.scaffold import template_text
from passcli.store import make_engine
from passcli.store.migrate import HEAD_REVISION, current_revision

PROJECT_FILES = (
    "segments.yaml",
    "messages.yaml",
    "policy.yaml",
    ".env.example",
    ".env",
    ".gitignore",
)


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every command from an empty folder, so a stray write never lands in the repo."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(autouse=True)
def store_files(backend: str, database_url: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The files init adds for the store: passcli.db on SQLite, none on PostgreSQL."""
    if backend == "sqlite":
        return {"passcli.db"}
    monkeypatch.setenv("PASSCLI_DATABASE_URL", database_url)
    return set()


@pytest.fixture
def store_revision(backend: str, database_url: str):
    """The alembic revision of the store init created for a project directory."""

    def revision(directory: Path) -> str | None:
        if backend == "sqlite":
            assert (directory / "passcli.db").is_file()
            url = f"sqlite:///{directory / 'passcli.db'}"
        else:
            url = database_url
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                return current_revision(conn)
        finally:
            engine.dispose()

    return revision


def invoke(runner, *args):
    return runner.invoke(app, [str(arg) for arg in args])


def secret_key(directory: Path) -> str:
    [line] = [
        line
        for line in (directory / ".env").read_text(encoding="utf-8").splitlines()
        if line.startswith("PASSCLI_SECRET_KEY=")
    ]
    return line.split("=", 1)[1]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_init_writes_the_project_files_and_a_migrated_store(
    runner, tmp_path, store_files, store_revision
):
    target = tmp_path / "new" / "project"

    result = invoke(runner, "init", target)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert {p.name for p in target.iterdir()} == {*PROJECT_FILES, *store_files}
    assert (target / "segments.yaml").read_text(encoding="utf-8") == template_text("segments.yaml")
    assert (target / "messages.yaml").read_text(encoding="utf-8") == template_text("messages.yaml")
    assert store_revision(target) == HEAD_REVISION
    assert f"wrote {target / 'segments.yaml'}" in result.stderr.splitlines()


def test_init_writes_a_random_secret_key_into_a_private_env_file(runner, tmp_path):
    invoke(runner, "init", tmp_path / "one")
    invoke(runner, "init", tmp_path / "two")

    keys = [secret_key(tmp_path / name) for name in ("one", "two")]
    assert all(len(key) >= 32 for key in keys)
    assert keys[0] != keys[1]
    assert stat.S_IMODE((tmp_path / "one" / ".env").stat().st_mode) == 0o600
    assert ".env" in (tmp_path / "one" / ".gitignore").read_text(encoding="utf-8").split()


def test_init_never_prints_the_secret_key(runner, tmp_path):
    target = tmp_path / "project"
    results = [invoke(runner, "init", target), invoke(runner, "init", target, "--force")]

    assert [r.exit_code for r in results] == [0, 0]
    key = secret_key(target)
    assert all(key not in r.output for r in results)
    assert "PASSCLI_SECRET_KEY" not in "".join(r.output for r in results)


def test_init_twice_refuses_with_one_sentence_and_leaves_the_files_untouched(runner, tmp_path):
    target = tmp_path / "project"
    assert invoke(runner, "init", target).exit_code == 0
    (target / "segments.yaml").write_text("segments: {}\n", encoding="utf-8")
    before = snapshot(target)

    result = invoke(runner, "init", target)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {target} already has segments.yaml, messages.yaml, policy.yaml, .env.example, "
        ".env; pass --force to overwrite"
    ]
    assert snapshot(target) == before


def test_init_refuses_when_only_one_project_file_exists(runner, tmp_path):
    target = tmp_path / "project"
    target.mkdir()
    (target / ".env").write_text("PASSCLI_TIMEZONE=Asia/Tokyo\n", encoding="utf-8")

    result = invoke(runner, "init", target)

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {target} already has .env; pass --force to overwrite"
    ]
    assert snapshot(target) == {".env": b"PASSCLI_TIMEZONE=Asia/Tokyo\n"}


def test_init_force_overwrites_the_project_files_with_a_new_key(runner, tmp_path):
    target = tmp_path / "project"
    invoke(runner, "init", target)
    old_key = secret_key(target)
    (target / "segments.yaml").write_text("segments: {}\n", encoding="utf-8")

    result = invoke(runner, "init", target, "--force")

    assert result.exit_code == 0, result.stderr
    assert (target / "segments.yaml").read_text(encoding="utf-8") == template_text("segments.yaml")
    assert secret_key(target) != old_key


def test_init_without_a_directory_uses_the_current_one(runner, _elsewhere, store_files):
    result = invoke(runner, "init")

    assert result.exit_code == 0, result.stderr
    assert {p.name for p in _elsewhere.iterdir()} == {*PROJECT_FILES, *store_files}


def test_init_takes_project_after_the_subcommand(runner, tmp_path, _elsewhere):
    target = tmp_path / "project"

    result = invoke(runner, "init", "--project", target)

    assert result.exit_code == 0, result.stderr
    assert (target / "segments.yaml").is_file()
    assert list(_elsewhere.iterdir()) == []


def test_init_takes_project_before_the_subcommand(runner, tmp_path, _elsewhere):
    target = tmp_path / "project"
    target.mkdir()

    result = invoke(runner, "--project", target, "init")

    assert result.exit_code == 0, result.stderr
    assert (target / "segments.yaml").is_file()
    assert list(_elsewhere.iterdir()) == []


def test_init_takes_now_before_and_after_the_subcommand(runner, tmp_path, store_revision):
    before = invoke(runner, "--now", "2026-11-22T17:00:00Z", "init", tmp_path / "a")
    after = invoke(runner, "init", tmp_path / "b", "--now", "2026-11-22T17:00:00Z")

    assert (before.exit_code, after.exit_code) == (0, 0)
    assert store_revision(tmp_path / "a") == HEAD_REVISION
    assert store_revision(tmp_path / "b") == HEAD_REVISION


def test_init_does_not_print_the_database_password(runner, tmp_path, monkeypatch):
    class Reachable:
        def dispose(self) -> None:
            pass

    # Stands in for a PostgreSQL server: only the URL the command prints matters here.
    monkeypatch.setattr("passcli.store.open_store", lambda url: Reachable())
    monkeypatch.setenv(
        "PASSCLI_DATABASE_URL", "postgresql+psycopg://passcli:hunter2@db.example/passcli"
    )

    result = invoke(runner, "init", tmp_path / "project")

    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.output


def test_demo_takes_now_after_the_subcommand(runner, tmp_path):
    result = invoke(runner, "demo", tmp_path / "demo", "--now", "2026-11-22T17:00:00Z")

    assert "No such option" not in result.stderr
    assert result.exit_code == 0, result.stderr
