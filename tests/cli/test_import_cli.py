"""`passcli import KIND FILE` end to end: exit codes, FILE:LINE lines, --json, global options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from passcli.cli.app import app
from passcli.scaffold import init_project

CUSTOMERS_CSV = """\
id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
c1,Ada@Example.com,(303) 555-0100,Ada,Lovelace,America/Denver,2026-01-05T09:00:00Z,,true
c2,not-an-email,,Grace,Hopper,,,,
c3,cy@example.com,,Cy,,,,false,
"""
REPORT_KEYS = {
    "kind",
    "file",
    "strict",
    "loaded",
    "inserted",
    "updated",
    "skipped",
    "rejected",
    "rejections",
}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of input files, made the current directory (so FILE is a bare name)."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (folder / "good.csv").write_text(
        "id,email\nc1,ada@example.com\nc2,grace@example.com\n", encoding="utf-8"
    )
    monkeypatch.chdir(folder)
    return folder


def invoke(runner, *args):
    return runner.invoke(app, [str(arg) for arg in args])


def show(runner, project, customer_id):
    result = invoke(runner, "customer", "show", customer_id, "--json", "--project", project)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_clean_import_exits_0_and_summarises_on_stderr(runner, project, data):
    result = invoke(runner, "import", "customers", "good.csv", "--project", project)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["good.csv: 2 inserted, 0 updated, 0 skipped, 0 rejected"]
    assert show(runner, project, "c2")["customer"]["email"] == "grace@example.com"


def test_rejected_rows_exit_1_with_file_line_reason_on_stderr(runner, project, data):
    result = invoke(runner, "import", "customers", "customers.csv", "--project", project)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "customers.csv:3: invalid email address 'not-an-email'",
        "customers.csv: 2 inserted, 0 updated, 0 skipped, 1 rejected",
    ]
    assert show(runner, project, "c3")["customer"]["email_opt_in"] is False


def test_json_prints_one_document_with_the_report(runner, project, data):
    result = invoke(runner, "import", "customers", "customers.csv", "--json", "--project", project)

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) == REPORT_KEYS
    assert document == {
        "kind": "customers",
        "file": "customers.csv",
        "strict": False,
        "loaded": True,
        "inserted": 2,
        "updated": 0,
        "skipped": 0,
        "rejected": 1,
        "rejections": [{"line": 3, "reason": "invalid email address 'not-an-email'"}],
    }


def test_reimporting_through_the_cli_reports_every_row_skipped(runner, project, data):
    first = invoke(runner, "import", "customers", "good.csv", "--json", "--project", project)
    second = invoke(runner, "import", "customers", "good.csv", "--json", "--project", project)

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert json.loads(first.stdout)["inserted"] == 2
    counts = json.loads(second.stdout)
    assert (counts["inserted"], counts["updated"], counts["skipped"]) == (0, 0, 2)


def test_strict_loads_nothing_and_exits_1(runner, project, data):
    result = invoke(
        runner, "import", "customers", "customers.csv", "--strict", "--json", "--project", project
    )

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert (document["strict"], document["loaded"], document["inserted"]) == (True, False, 0)
    assert document["rejected"] == 1
    missing = invoke(runner, "customer", "show", "c1", "--project", project)
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: no customer with id 'c1'"


def test_strict_says_on_stderr_that_nothing_was_loaded(runner, project, data):
    result = invoke(
        runner, "import", "customers", "customers.csv", "--strict", "--project", project
    )

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "customers.csv:3: invalid email address 'not-an-email'",
        "customers.csv: 0 inserted, 0 updated, 0 skipped, 1 rejected "
        "(--strict: nothing was loaded)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["import", "visits", "good.csv"],
            "error: unknown import kind 'visits': use one of customers, items, purchases, "
            "redemptions, events, bounces",
        ),
        (["import", "customers", "missing.csv"], "error: no such file: missing.csv"),
        (
            ["import", "events", "good.csv"],
            "error: events are imported from JSON Lines only (.jsonl or .ndjson)",
        ),
        (
            ["import", "customers", "good.csv", "--format", "xml"],
            "error: --format must be csv or jsonl, not 'xml'",
        ),
        (
            ["import", "customers", "notes.txt"],
            "error: cannot tell the format of notes.txt: name it .csv, .jsonl or .ndjson, "
            "or pass --format",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_sentence_on_stderr(runner, project, data, args, message):
    (data / "notes.txt").write_text("id\nc1\n", encoding="utf-8")

    result = invoke(runner, *args, "--json", "--project", project)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [message]


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("customers.csv", b'{"id": "c1", "email": "ada@example.com"}\n', None),
        ("customers.jsonl", b'{"id": "c1", "email": "ada@example.com"}\n', "csv"),
        ("customers.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", None),
    ],
)
def test_a_file_that_is_not_csv_exits_2_and_loads_nothing(
    runner, project, data, name, content, fmt
):
    (data / name).write_bytes(content)
    options = ["--format", fmt] if fmt else []

    result = invoke(runner, "import", "customers", name, *options, "--project", project)

    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {name} is not ")
    assert "Traceback" not in result.output
    assert invoke(runner, "customer", "show", "c1", "--project", project).exit_code == 1


def test_format_overrides_the_extension(runner, project, data):
    (data / "people.txt").write_text('{"id": "j1", "email": "J@X.io"}\n', encoding="utf-8")

    result = invoke(
        runner, "import", "customers", "people.txt", "--format", "jsonl", "--project", project
    )

    assert result.exit_code == 0, result.stderr
    assert show(runner, project, "j1")["customer"]["email"] == "j@x.io"


@pytest.fixture
def standalone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, database_url: str
) -> Path:
    """A project with its own store and a Tokyo .env; the cwd is somewhere else, so only
    --project can find it. On SQLite the store is the project's passcli.db (the default);
    on PostgreSQL the project's .env names the test's schema."""
    directory = tmp_path / "standalone"
    env = {"PASSCLI_TIMEZONE": "Asia/Tokyo"}
    if backend != "sqlite":
        env["PASSCLI_DATABASE_URL"] = database_url
    init_project(directory, extra_env=env)
    (directory / "events.jsonl").write_text(
        '{"type": "track", "userId": "u1", "event": "Session Started", "messageId": "m-1"}\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return directory


# 2026-11-23T02:00:00 in Tokyo (the project's PASSCLI_TIMEZONE) is 17:00 UTC the day before.
NAIVE_NOW = "2026-11-23T02:00:00"


@pytest.mark.parametrize(
    "order",
    [
        ["--project", "{p}", "--now", NAIVE_NOW, "import", "events", "{f}"],
        ["import", "events", "{f}", "--project", "{p}", "--now", NAIVE_NOW],
        ["--project", "{p}", "import", "events", "{f}", "--now", NAIVE_NOW],
        ["--now", NAIVE_NOW, "import", "events", "{f}", "--project", "{p}"],
    ],
    ids=["both-first", "both-after", "project-first", "now-first"],
)
def test_project_and_now_are_accepted_before_and_after_the_subcommand(runner, standalone, order):
    events = standalone / "events.jsonl"
    args = [a.format(p=standalone, f=events) for a in order]

    result = invoke(runner, *args)

    assert result.exit_code == 0, result.stderr
    assert not (Path.cwd() / "passcli.db").exists()
    for show_args in (
        ["--project", standalone, "customer", "show", "u1", "--json"],
        ["customer", "show", "u1", "--json", "--project", standalone],
    ):
        shown = invoke(runner, *show_args)
        assert shown.exit_code == 0, shown.stderr
        [event] = json.loads(shown.stdout)["events"]
        assert (event["message_id"], event["ts"]) == ("m-1", "2026-11-22T17:00:00Z")


def test_the_subcommands_now_wins_over_the_global_one(runner, standalone):
    result = invoke(
        runner,
        "--now",
        "2020-01-01T00:00:00Z",
        "import",
        "events",
        standalone / "events.jsonl",
        "--now",
        "2026-11-22T17:00:00Z",
        "--project",
        standalone,
    )

    assert result.exit_code == 0, result.stderr
    shown = invoke(runner, "customer", "show", "u1", "--json", "--project", standalone)
    assert json.loads(shown.stdout)["events"][0]["ts"] == "2026-11-22T17:00:00Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "soon"], "error: --now must be an ISO-8601 instant, not 'soon'"),
        (["--project", "{missing}"], "error: project directory {missing} does not exist"),
    ],
)
def test_bad_global_options_exit_2_with_one_sentence(runner, standalone, tmp_path, args, message):
    missing = tmp_path / "missing"
    args = [a.format(missing=missing) for a in args]

    result = invoke(runner, "import", "events", standalone / "events.jsonl", *args)

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [message.format(missing=missing)]


@pytest.mark.slow
def test_python_dash_m_passcli_imports_in_a_real_process(project, tmp_path):
    (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "passcli",
            "--project",
            str(project),
            "import",
            "customers",
            "customers.csv",
        ],
        cwd=tmp_path,
        env={**os.environ, "PASSCLI_NOW": "2026-11-22T17:00:00Z"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "customers.csv:3: invalid email address 'not-an-email'",
        "customers.csv: 2 inserted, 0 updated, 0 skipped, 1 rejected",
    ]
