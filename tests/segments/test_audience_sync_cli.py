"""`passcli segment diff` and `passcli segment sync` end to end on the example data, checked
against the reference evaluator.

The JSON documents, as this test pins them (docs/segments.md, "Audience sync"):
- `segment diff NAME --json`: {"segment", "at", "since", "syncs", "snapshot", "members",
  "entered", "exited", "changes": [{"customer_id", "change"}]}; `since` is the last sync's
  instant (null before the first), `syncs` the number of successful syncs, `snapshot` the
  members it recorded, `members` the size now; changes are entered ones then exited ones,
  each in id order, every one unless --limit.
- `segment sync NAME --to ... --json`: {"segment", "at", "to", "since", "first", "sync",
  "entered", "exited", "events", "requests", "members"}; `sync` is this sync's number,
  `requests` the HTTP batches sent (0 for a file), `members` the snapshot's size after it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from passcli import sampledata

from .test_segment_cli import NOW_JSON, reference, run
from .test_sync import FakeSegment

# expires-soon (an Explorer Pass expiring within 30 days) both gains and loses members by then.
NAME = "expires-soon"
LATER = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)
LATER_JSON = "2026-12-10T00:00:00Z"
DIFF_KEYS = ["segment", "at", "since", "syncs", "snapshot", "members", "entered", "exited"]
SYNC_KEYS = [
    "segment",
    "at",
    "to",
    "since",
    "first",
    "sync",
    "entered",
    "exited",
    "events",
    "requests",
    "members",
]
WRITE_KEY = "wk_live_not_for_output"


@pytest.fixture
def examples(project: Path, example_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The init project over the example data, evaluated at the examples' instant."""
    monkeypatch.setenv("PASSCLI_TIMEZONE", sampledata.TIMEZONE)
    monkeypatch.setenv("PASSCLI_NOW", sampledata.REFERENCE_NOW.isoformat())
    return project


@pytest.fixture
def segment(httpserver):
    fake = FakeSegment()
    httpserver.expect_request("/v1/batch", method="POST").respond_with_handler(fake)
    fake.url = httpserver.url_for("/v1/batch")
    return fake


def document(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def expected_changes(engine, project, name, at: datetime, before: list[str]) -> list[dict]:
    now = reference(engine, project, name, at)
    return [{"customer_id": c, "change": "entered"} for c in now if c not in before] + [
        {"customer_id": c, "change": "exited"} for c in before if c not in now
    ]


def test_diff_before_any_sync_lists_every_member_as_entered(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    found = document(run(runner, examples, "segment", "diff", "high-ltv", "--json"))

    members = reference(engine, examples, "high-ltv")
    assert list(found) == [*DIFF_KEYS, "changes"]
    assert {k: found[k] for k in DIFF_KEYS} == {
        "segment": "high-ltv",
        "at": NOW_JSON,
        "since": None,
        "syncs": 0,
        "snapshot": 0,
        "members": len(members),
        "entered": len(members),
        "exited": 0,
    }
    assert found["changes"] == [{"customer_id": c, "change": "entered"} for c in members]


def test_sync_to_a_file_then_diff_and_sync_again_later(
    runner: CliRunner, examples: Path, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "expires-soon.jsonl"
    members = reference(engine, examples, NAME)

    first = document(run(runner, examples, "segment", "sync", NAME, "--to", str(path), "--json"))

    assert list(first) == SYNC_KEYS
    assert first == {
        "segment": NAME,
        "at": NOW_JSON,
        "to": str(path),
        "since": None,
        "first": True,
        "sync": 1,
        "entered": len(members),
        "exited": 0,
        "events": len(members),
        "requests": 0,
        "members": len(members),
    }
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(e["event"], e["userId"]) for e in events] == [("Audience Entered", c) for c in members]
    unchanged = document(run(runner, examples, "segment", "diff", NAME, "--json"))
    assert (unchanged["since"], unchanged["syncs"], unchanged["snapshot"]) == (
        NOW_JSON,
        1,
        len(members),
    )
    assert (unchanged["entered"], unchanged["exited"], unchanged["changes"]) == (0, 0, [])

    later = ["--now", LATER_JSON]
    changes = expected_changes(engine, examples, NAME, LATER, members)
    assert {c["change"] for c in changes} == {"entered", "exited"}  # the data has both
    found = document(run(runner, examples, "segment", "diff", NAME, "--json", *later))
    assert found["changes"] == changes
    again = document(run(runner, examples, "segment", "diff", NAME, "--json", *later))
    assert again == found  # diff does not advance the snapshot

    second = document(
        run(runner, examples, "segment", "sync", NAME, "--to", str(path), "--json", *later)
    )

    entered = sum(c["change"] == "entered" for c in changes)
    assert (second["first"], second["sync"], second["since"]) == (False, 2, NOW_JSON)
    assert (second["entered"], second["exited"]) == (entered, len(changes) - entered)
    assert second["members"] == len(reference(engine, examples, NAME, LATER))
    appended = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(e["event"], e["userId"], e["properties"][NAME]) for e in appended[len(members) :]] == [
        (
            "Audience Entered" if c["change"] == "entered" else "Audience Exited",
            c["customer_id"],
            c["change"] == "entered",
        )
        for c in changes
    ]


def test_diff_limit_lists_the_first_changes_and_keeps_the_counts(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    found = document(
        run(runner, examples, "segment", "diff", "pass-participants", "--limit", "2", "--json")
    )

    members = reference(engine, examples, "pass-participants")
    assert found["entered"] == found["members"] == len(members) > 2
    assert [c["customer_id"] for c in found["changes"]] == members[:2]


def test_diff_table_and_sync_summary_for_people(
    runner: CliRunner, examples: Path, engine: Engine, tmp_path: Path
) -> None:
    members = reference(engine, examples, "high-ltv")

    diff = run(runner, examples, "segment", "diff", "high-ltv", "--limit", "1")
    sync = run(runner, examples, "segment", "sync", "high-ltv", "--to", str(tmp_path / "a.jsonl"))
    after = run(runner, examples, "segment", "diff", "high-ltv")

    assert diff.exit_code == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert (
        lines[0]
        == f"high-ltv: {len(members)} entered, 0 exited, never synced: every member entered"
    )
    assert members[0] in diff.stdout and members[1] not in diff.stdout
    assert lines[-1] == f"... and {len(members) - 1} more (--limit N, or --json)"
    assert sync.exit_code == 0, sync.stderr
    assert sync.stdout == ""
    assert sync.stderr.strip() == (
        f"synced high-ltv to {tmp_path / 'a.jsonl'}: {len(members)} entered, 0 exited "
        f"({len(members)} events); sync 1, {len(members)} members in the snapshot"
    )
    assert after.stdout.splitlines() == [
        f"high-ltv: 0 entered, 0 exited, since the sync at {NOW_JSON}"
    ]


def test_sync_to_a_url_posts_batches_with_the_write_key_and_retries_a_500(
    runner: CliRunner,
    examples: Path,
    engine: Engine,
    segment: FakeSegment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSCLI_SEGMENT_WRITE_KEY", WRITE_KEY)
    segment.script = [(500, {"Retry-After": "0"})]
    members = reference(engine, examples, "high-ltv")

    found = document(
        run(runner, examples, "segment", "sync", "high-ltv", "--to", segment.url, "--json")
    )

    assert (found["to"], found["requests"], found["events"], found["sync"]) == (
        segment.url,
        1,
        len(members),
        1,
    )
    assert len(segment.requests) == 2  # the 500, then the same batch again
    assert segment.requests[0]["body"] == segment.requests[1]["body"]
    credentials = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert segment.requests[1]["authorization"] == f"Basic {credentials}"
    batch = segment.requests[1]["body"]["batch"]
    assert [(e["type"], e["event"], e["userId"]) for e in batch] == [
        ("track", "Audience Entered", c) for c in members
    ]
    assert {e["properties"]["audience_key"] for e in batch} == {"high-ltv"}
    assert len({e["messageId"] for e in batch}) == len(members)


def test_a_4xx_exits_1_in_one_sentence_and_leaves_the_snapshot(
    runner: CliRunner,
    examples: Path,
    segment: FakeSegment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSCLI_SEGMENT_WRITE_KEY", WRITE_KEY)
    segment.script = [(400, {})]

    result = run(runner, examples, "segment", "sync", "high-ltv", "--to", segment.url, "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: sync of segment 'high-ltv' to {segment.url} failed: {segment.url} answered "
        'HTTP 400 BAD REQUEST: {"error": "bad batch"}; the snapshot was not advanced (the '
        "next sync sends these changes again)"
    ]
    assert WRITE_KEY not in result.stderr
    found = document(run(runner, examples, "segment", "diff", "high-ltv", "--json"))
    assert (found["syncs"], found["since"], found["exited"]) == (0, None, 0)
    assert found["entered"] == found["members"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diff", "high-ltvv"], "error: unknown segment 'high-ltvv'"),
        (["sync", "high-ltvv", "--to", "a.jsonl"], "error: unknown segment 'high-ltvv'"),
        (
            ["sync", "high-ltv", "--to", "audience.yaml"],
            "error: --to must be a .jsonl file or an http(s) URL, not 'audience.yaml'",
        ),
        (
            ["sync", "high-ltv", "--to", "s3://bucket/a.jsonl"],
            "error: --to must be a .jsonl file or an http(s) URL, not a s3 URL",
        ),
    ],
)
def test_bad_usage_exits_2_in_one_sentence(
    runner: CliRunner,
    examples: Path,
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    result = run(runner, examples, "segment", *args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [message]
    assert list(here.iterdir()) == []


def test_sync_needs_to(runner: CliRunner, examples: Path) -> None:
    result = run(runner, examples, "segment", "sync", "high-ltv")

    assert result.exit_code == 2
    assert "Missing option '--to'" in result.stderr


def test_python_m_passcli_syncs_to_a_file(examples: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "passcli", "segment", "sync", "new-signups"]

    done = subprocess.run(
        [*command, "--to", str(path), "--json", "--project", str(examples)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == len(path.read_text().splitlines()) == 4
