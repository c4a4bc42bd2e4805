"""`passcli run-due` and `passcli schedule` through the CLI (SPEC §5): JSON documents,
human output on stderr, and exit codes (0 ok, 1 a delivery failed, 2 invalid files)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner, Result

from passcli.cli.app import app
from passcli.store.schema import customers

from .conftest import Inbox, customer, email_message, write_project

NOW = "2026-11-22T10:00:00-07:00"
MESSAGES = {
    "news": email_message({"every": "1 day", "start": "2026-11-20 09:00"}),
    "sale": email_message({"at": "2026-12-01 10:00"}),
    "morning": email_message({"every": "1 day", "start": "2026-11-20 08:00", "local_time": True}),
}
RUN_KEYS = {
    "message",
    "at",
    "occurrence",
    "dry_run",
    "audience",
    "sent",
    "failed",
    "skipped",
    "held",
    "recipients",
}


@pytest.fixture
def site(
    tmp_path: Path, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A project (Denver) with customers in Denver and Berlin, and MESSAGES."""
    directory = tmp_path / "project"
    write_project(directory, MESSAGES)
    monkeypatch.setenv("PASSCLI_DATABASE_URL", database_url)
    monkeypatch.setenv("PASSCLI_TIMEZONE", "America/Denver")
    with engine.begin() as conn:
        conn.execute(
            insert(customers),
            [customer("den"), customer("ber", timezone="Europe/Berlin")],
        )
    yield directory


def invoke(runner: CliRunner, site: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--project", str(site)])


def document(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


# -- schedule -----------------------------------------------------------------------------------


def test_schedule_json_lists_upcoming_occurrences_in_due_order(
    runner: CliRunner, site: Path
) -> None:
    shown = document(invoke(runner, site, "schedule", "--count", "2", "--now", NOW, "--json"))

    assert set(shown) == {"at", "upcoming", "runs"}
    assert shown["at"] == "2026-11-22T17:00:00Z"
    assert shown["upcoming"] == [
        {
            "message": "morning",
            "occurrence": "2026-11-23T08:00",
            "due_at": "2026-11-23T15:00:00Z",
            "local": "2026-11-23 08:00 MST",
            "local_time": True,
        },
        {
            "message": "news",
            "occurrence": "2026-11-23T16:00:00Z",
            "due_at": "2026-11-23T16:00:00Z",
            "local": "2026-11-23 09:00 MST",
            "local_time": False,
        },
        {
            "message": "morning",
            "occurrence": "2026-11-24T08:00",
            "due_at": "2026-11-24T15:00:00Z",
            "local": "2026-11-24 08:00 MST",
            "local_time": True,
        },
        {
            "message": "news",
            "occurrence": "2026-11-24T16:00:00Z",
            "due_at": "2026-11-24T16:00:00Z",
            "local": "2026-11-24 09:00 MST",
            "local_time": False,
        },
        {
            "message": "sale",
            "occurrence": "2026-12-01T17:00:00Z",
            "due_at": "2026-12-01T17:00:00Z",
            "local": "2026-12-01 10:00 MST",
            "local_time": False,
        },
    ]
    assert shown["runs"] == []


def test_schedule_json_shows_the_last_runs_after_run_due(runner: CliRunner, site: Path) -> None:
    document(invoke(runner, site, "run-due", "--now", NOW, "--json"))

    shown = document(invoke(runner, site, "schedule", "--now", NOW, "--json"))

    runs = {(r["message"], r["occurrence"]): r for r in shown["runs"]}
    assert set(runs) == {
        ("news", "2026-11-22T16:00:00Z"),
        ("morning", "2026-11-22T08:00"),  # Berlin's (07:00Z) and Denver's (15:00Z)
    }
    news = runs[("news", "2026-11-22T16:00:00Z")]
    assert (news["kind"], news["status"]) == ("scheduled", "done")
    assert news["started_at"] == "2026-11-22T17:00:00Z"
    assert news["counts"]["sent"] == {"email": 2, "sms": 0}
    assert news["counts"]["audience"] == 2
    assert len(news["fingerprint"]) == 12


def test_schedule_without_json_prints_tables(runner: CliRunner, site: Path) -> None:
    result = invoke(runner, site, "schedule", "--now", NOW)

    assert result.exit_code == 0, result.stderr
    assert "Upcoming" in result.stdout and "Last runs" in result.stdout
    assert "2026-11-23T08:00" in result.stdout
    assert "each customer's zone" in result.stdout


# -- run-due ------------------------------------------------------------------------------------


def test_run_due_json_document_has_runs_missed_and_journeys(runner: CliRunner, site: Path) -> None:
    report = document(invoke(runner, site, "run-due", "--now", NOW, "--json"))

    assert {"at", "runs", "missed", "journeys"} <= set(report)
    assert report["at"] == "2026-11-22T17:00:00Z"
    assert report["missed"] == []
    assert report["journeys"] == []
    assert all(set(run) == RUN_KEYS for run in report["runs"])
    assert [(r["message"], r["occurrence"]) for r in report["runs"]] == [
        ("news", "2026-11-22T16:00:00Z"),
        ("morning", "2026-11-22T08:00"),
    ]
    news, morning = report["runs"]
    assert news["at"] == "2026-11-22T17:00:00Z"
    assert news["recipients"] == [
        {"customer_id": "ber", "channel": "email", "to": "ber@example.com", "status": "sent"},
        {"customer_id": "den", "channel": "email", "to": "den@example.com", "status": "sent"},
    ]
    assert sorted(r["customer_id"] for r in morning["recipients"]) == ["ber", "den"]
    assert sorted(p.name for p in (site / "outbox" / "email").iterdir()) == [
        "scheduled_morning_2026-11-22T08_00-ber.eml",
        "scheduled_morning_2026-11-22T08_00-den.eml",
        "scheduled_news_2026-11-22T16_00_00Z-ber.eml",
        "scheduled_news_2026-11-22T16_00_00Z-den.eml",
    ]


def test_run_due_json_reports_missed_occurrences(runner: CliRunner, site: Path) -> None:
    report = document(
        invoke(runner, site, "run-due", "--now", "2026-12-02T12:00:00-07:00", "--json")
    )

    assert {"message": "sale", "occurrence": "2026-12-01T17:00:00Z"} in report["missed"]
    assert "sale" not in {r["message"] for r in report["runs"]}


def test_run_due_twice_sends_nothing_the_second_time(runner: CliRunner, site: Path) -> None:
    document(invoke(runner, site, "run-due", "--now", NOW, "--json"))

    again = document(invoke(runner, site, "run-due", "--now", NOW, "--json"))

    assert [sum(r["sent"].values()) for r in again["runs"]] == [0] * len(again["runs"])
    assert again["missed"] == []


def test_run_due_dry_run_json_records_nothing(runner: CliRunner, site: Path) -> None:
    dry = document(invoke(runner, site, "run-due", "--dry-run", "--now", NOW, "--json"))

    assert {r["status"] for run in dry["runs"] for r in run["recipients"]} == {"dry_run"}
    assert [run["dry_run"] for run in dry["runs"]] == [True, True]
    assert not (site / "outbox").exists()
    log = document(invoke(runner, site, "log", "--json"))
    assert log == {"deliveries": []}


def test_run_due_human_output_goes_to_stderr(runner: CliRunner, site: Path) -> None:
    result = invoke(runner, site, "run-due", "--now", NOW)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert (
        "news @ 2026-11-22T16:00:00Z: audience 2, sent 2 email 0 sms, failed 0, skipped 0"
        in result.stderr
    )


def test_run_due_with_nothing_due_says_so(runner: CliRunner, site: Path) -> None:
    write_project(site, {"sale": email_message({"at": "2026-12-01 10:00"})})

    result = invoke(runner, site, "run-due", "--now", NOW)

    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == "nothing due"


def test_run_due_exits_1_when_a_delivery_failed(
    runner: CliRunner, site: Path, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox.refuse.add("ber@example.com")
    monkeypatch.setenv("PASSCLI_EMAIL_TRANSPORT", "smtp")
    monkeypatch.setenv("PASSCLI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PASSCLI_SMTP_PORT", str(inbox.port))
    write_project(site, {"news": MESSAGES["news"]})

    result = invoke(runner, site, "run-due", "--now", NOW, "--json")

    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)  # the document is still printed
    (run,) = report["runs"]
    assert (run["sent"], run["failed"]) == ({"email": 1, "sms": 0}, 1)
    assert {r["customer_id"]: r["status"] for r in run["recipients"]} == {
        "ber": "failed",
        "den": "sent",
    }
    assert inbox.count() == {("den@example.com", "Hello Den"): 1}
    log = document(invoke(runner, site, "log", "--customer", "ber", "--json"))
    (entry,) = log["deliveries"]
    assert entry["status"] == "failed"
    assert entry["error"].startswith("SMTP 550")


def test_run_due_exits_0_once_nothing_failed(
    runner: CliRunner, site: Path, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSCLI_EMAIL_TRANSPORT", "smtp")
    monkeypatch.setenv("PASSCLI_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PASSCLI_SMTP_PORT", str(inbox.port))
    write_project(site, {"news": MESSAGES["news"]})

    result = invoke(runner, site, "run-due", "--now", NOW, "--json")

    assert result.exit_code == 0, result.stderr
    assert len(inbox.accepted) == 2


# -- scheduler ----------------------------------------------------------------------------------


def test_scheduler_job_is_run_due_and_survives_a_bad_minute(
    runner: CliRunner, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job APScheduler would call every minute, called directly (no waiting)."""
    started: dict[str, Any] = {}

    def capture(job: Any, first_run: Any, interval_seconds: int = 60) -> None:
        started.update(job=job, first_run=first_run, interval=interval_seconds)

    monkeypatch.setattr("passcli.scheduling.scheduler.run_forever", capture)
    monkeypatch.setenv("PASSCLI_NOW", NOW)  # the job reads the clock; pin it here

    result = invoke(runner, site, "scheduler", "--interval", "30")

    assert result.exit_code == 0, result.stderr
    assert started["interval"] == 30
    assert started["first_run"].tzinfo is not None
    started["job"]()
    outbox = sorted(p.name for p in (site / "outbox" / "email").iterdir())
    assert len(outbox) == 4
    started["job"]()  # the next minute: nothing twice
    assert sorted(p.name for p in (site / "outbox" / "email").iterdir()) == outbox
    (site / "messages.yaml").write_text("messages: [", encoding="utf-8")
    started["job"]()  # an invalid file is reported, the scheduler goes on


# -- invalid files and usage: exit 2 -------------------------------------------------------------

BROKEN = [
    pytest.param(
        "messages:\n"
        "  news:\n"
        "    segments: [everyone]\n"
        "    body: Hi\n"
        "    schedule:\n"
        "      evry: 1 day\n"
        "      start: 2026-11-01 09:00\n",
        "messages.yaml:6:7: unknown key 'evry'",
        id="misspelt-schedule-key",
    ),
    pytest.param(
        "messages:\n"
        "  news:\n"
        "    segments: [everyone]\n"
        "    body: Hi\n"
        "    schedule: {every: 1 fortnight, start: 2026-11-01 09:00}\n",
        "messages.yaml:5:",
        id="unknown-unit",
    ),
    pytest.param(
        "messages:\n"
        "  news:\n"
        "    segments: [nobody]\n"
        "    body: Hi\n"
        "    schedule: {at: 2026-12-01 10:00}\n",
        "messages.yaml:3:",
        id="unknown-segment",
    ),
    pytest.param(
        "messages:\n"
        "  news:\n"
        "    segments: [everyone]\n"
        "    body: Hi\n"
        "    schedule: {at: 2026-12-01 10:00, every: 1 day}\n",
        "messages.yaml:5:",
        id="at-and-every",
    ),
]


@pytest.mark.parametrize(("text", "where"), BROKEN)
@pytest.mark.parametrize("command", ["run-due", "schedule"])
def test_invalid_messages_file_exits_2_with_its_position(
    runner: CliRunner, site: Path, command: str, text: str, where: str
) -> None:
    (site / "messages.yaml").write_text(text, encoding="utf-8")

    result = invoke(runner, site, command, "--now", NOW, "--json")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert where in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_project_directory_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run-due", "--project", str(tmp_path / "nowhere"), "--json"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "does not exist" in result.stderr


def test_bad_now_exits_2(runner: CliRunner, site: Path) -> None:
    result = invoke(runner, site, "run-due", "--now", "next tuesday")

    assert result.exit_code == 2
    assert "--now must be an ISO-8601 instant" in result.stderr


def test_run_due_without_a_secret_key_exits_2_but_a_dry_run_works(
    runner: CliRunner, site: Path
) -> None:
    (site / ".env").unlink()

    refused = invoke(runner, site, "run-due", "--now", NOW, "--json")
    dry = invoke(runner, site, "run-due", "--dry-run", "--now", NOW, "--json")

    assert refused.exit_code == 2
    assert "PASSCLI_SECRET_KEY" in refused.stderr
    assert dry.exit_code == 0, dry.stderr


def test_every_schedule_command_has_help(runner: CliRunner) -> None:
    for command in ("run-due", "schedule", "scheduler"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.stdout
    run_due_help = runner.invoke(app, ["run-due", "--help"]).stdout
    for option in ("--dry-run", "--retry-unknown", "--limit", "--json"):
        assert option in run_due_help
