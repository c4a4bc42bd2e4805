"""`passcli segment list|preview|export` and `customer show` end to end, on the bundled
example data (SPEC §2: it makes every starter segment non-empty), checked against the
reference evaluator."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from passcli import sampledata
from passcli.cli.app import app
from passcli.project import load_project
from passcli.segments.reference import Snapshot, evaluate
from passcli.store import read_transaction
from passcli.store.schema import customers

ZONE = ZoneInfo(sampledata.TIMEZONE)
NOW = sampledata.REFERENCE_NOW
NOW_JSON = "2026-11-22T17:00:00Z"
STARTERS = [
    "pass-participants",
    "new-signups",
    "expires-soon",
    "no-redemptions-yet",
    "super-users",
    "high-ltv",
]
MEMBER_KEYS = ["id", "email", "phone", "first_name", "last_name"]


@pytest.fixture
def examples(project: Path, example_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The init project over the example data, evaluated at the examples' instant."""
    monkeypatch.setenv("PASSCLI_TIMEZONE", sampledata.TIMEZONE)
    monkeypatch.setenv("PASSCLI_NOW", NOW.isoformat())
    return project


def reference(engine: Engine, project: Path, name: str, now: datetime = NOW) -> list[str]:
    specs, problems = load_project(project)
    assert problems == []
    with read_transaction(engine) as conn:
        return sorted(evaluate(specs.segments, name, Snapshot.load(conn), now, ZONE))


def member_rows(engine: Engine, ids: list[str]) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(*(customers.c[k] for k in MEMBER_KEYS))
            .where(customers.c.id.in_(ids))
            .order_by(customers.c.id)
        )
        return [dict(row._mapping) for row in rows]


def run(runner: CliRunner, project: Path, *args: str) -> Any:
    return runner.invoke(app, [*args, "--project", str(project)])


def test_segment_list_json_sizes_every_starter_segment_like_the_reference(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    result = run(runner, examples, "segment", "list", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["at"] == NOW_JSON
    assert [s["name"] for s in document["segments"]] == STARTERS
    specs, _ = load_project(examples)
    for entry in document["segments"]:
        assert entry["description"] == specs.segments[entry["name"]].description
        assert entry["count"] == len(reference(engine, examples, entry["name"])) > 0


@pytest.mark.parametrize("name", STARTERS)
def test_segment_preview_json_lists_exactly_the_reference_members(
    runner: CliRunner, examples: Path, engine: Engine, name: str
) -> None:
    result = run(runner, examples, "segment", "preview", name, "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document) == ["segment", "at", "count", "customers"]
    expected = reference(engine, examples, name)
    assert expected, f"the example data leaves {name} empty"
    assert document["segment"] == name
    assert document["at"] == NOW_JSON
    assert document["count"] == len(expected)
    assert [list(c) for c in document["customers"]] == [MEMBER_KEYS] * len(expected)
    assert document["customers"] == member_rows(engine, expected)


def test_segment_preview_limit_keeps_the_count_and_the_first_members_by_id(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    result = run(
        runner, examples, "segment", "preview", "pass-participants", "--limit", "3", "--json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    expected = reference(engine, examples, "pass-participants")
    assert document["count"] == len(expected) > 3
    assert [c["id"] for c in document["customers"]] == expected[:3]


def test_segment_preview_table_names_the_size_and_what_is_left_out(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    result = run(runner, examples, "segment", "preview", "new-signups", "--limit", "1")
    assert result.exit_code == 0, result.stderr
    expected = reference(engine, examples, "new-signups")
    lines = result.stdout.splitlines()
    assert lines[0] == f"new-signups: {len(expected)} members at {NOW_JSON}"
    assert expected[0] in result.stdout
    assert expected[1] not in result.stdout
    assert lines[-1] == f"... and {len(expected) - 1} more (--limit N, or segment export)"


def test_segment_preview_sql_prints_the_query_with_literal_bounds(
    runner: CliRunner, examples: Path
) -> None:
    result = run(runner, examples, "segment", "preview", "new-signups", "--sql")
    assert result.exit_code == 0, result.stderr
    sql = result.stdout.split("\n\n")[0]
    now_s = int(NOW.timestamp())
    # exactly 2 days ago in Denver: purchased on 2026-11-20, local midnight to midnight
    day_start = int(datetime(2026, 11, 20, tzinfo=ZONE).timestamp())
    day_end = int(datetime(2026, 11, 21, tzinfo=ZONE).timestamp())
    assert sql.startswith("SELECT")
    for literal in ("'explorer-pass'", "'active'", str(now_s), str(day_start), str(day_end)):
        assert literal in sql
    assert "?" not in sql and ":param" not in sql and "%(" not in sql


def test_segment_export_jsonl_to_a_file(
    runner: CliRunner, examples: Path, engine: Engine, tmp_path: Path
) -> None:
    target = tmp_path / "out.jsonl"
    result = run(
        runner, examples, "segment", "export", "high-ltv", "--format", "jsonl", "-o", str(target)
    )
    assert result.exit_code == 0, result.stderr
    expected = reference(engine, examples, "high-ltv")
    assert result.stdout == ""
    assert result.stderr.strip() == f"wrote {len(expected)} members of high-ltv to {target}"
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == member_rows(engine, expected)


def test_segment_export_csv_to_stdout(runner: CliRunner, examples: Path, engine: Engine) -> None:
    result = run(runner, examples, "segment", "export", "expires-soon")
    assert result.exit_code == 0, result.stderr
    expected = member_rows(engine, reference(engine, examples, "expires-soon"))
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == MEMBER_KEYS
    assert rows[1:] == [[row[k] or "" for k in MEMBER_KEYS] for row in expected]


def test_segment_export_refuses_an_unknown_format(runner: CliRunner, examples: Path) -> None:
    result = run(runner, examples, "segment", "export", "high-ltv", "--format", "xml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "error: --format must be csv or jsonl, not 'xml'"


@pytest.mark.parametrize(
    "args",
    [
        ["segment", "preview", "high-ltvv", "--json"],
        ["segment", "export", "high-ltvv"],
    ],
    ids=["preview", "export"],
)
def test_an_unknown_segment_is_bad_usage_in_one_sentence(
    runner: CliRunner, examples: Path, args: list[str]
) -> None:
    result = run(runner, examples, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["error: unknown segment 'high-ltvv'"]


def test_now_moves_evaluation_in_time(runner: CliRunner, examples: Path, engine: Engine) -> None:
    tomorrow = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    today = run(runner, examples, "segment", "preview", "new-signups", "--json")
    later = run(
        runner,
        examples,
        "segment",
        "preview",
        "new-signups",
        "--json",
        "--now",
        "2026-11-23T10:00:00",  # no offset: read in PASSCLI_TIMEZONE (Denver)
    )
    assert later.exit_code == 0, later.stderr
    now_ids = [c["id"] for c in json.loads(today.stdout)["customers"]]
    later_document = json.loads(later.stdout)
    later_ids = [c["id"] for c in later_document["customers"]]
    assert later_document["at"] == "2026-11-23T17:00:00Z"
    assert later_ids == reference(engine, examples, "new-signups", tomorrow)
    assert now_ids == reference(engine, examples, "new-signups")
    assert later_ids != now_ids


def test_now_may_come_before_the_subcommand(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    result = runner.invoke(
        app,
        [
            "--now",
            "2026-11-23T17:00:00Z",
            "segment",
            "preview",
            "new-signups",
            "--json",
            "--project",
            str(examples),
        ],
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    tomorrow = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert document["at"] == "2026-11-23T17:00:00Z"
    assert [c["id"] for c in document["customers"]] == reference(
        engine, examples, "new-signups", tomorrow
    )


def test_customer_show_lists_the_segments_the_customer_is_in(
    runner: CliRunner, examples: Path, engine: Engine
) -> None:
    members = {name: set(reference(engine, examples, name)) for name in STARTERS}
    # one member of each segment, and one customer in none
    with read_transaction(engine) as conn:
        everyone = sorted(conn.execute(select(customers.c.id)).scalars())
    outsider = next(c for c in everyone if not any(c in m for m in members.values()))
    chosen = sorted({min(m) for m in members.values()} | {outsider})
    for customer_id in chosen:
        result = run(runner, examples, "customer", "show", customer_id, "--json")
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["customer"]["id"] == customer_id
        assert document["segments"] == [n for n in STARTERS if customer_id in members[n]]


def test_a_command_closes_its_store_connections(
    runner: CliRunner, examples: Path, cli_engines: list[Engine]
) -> None:
    result = run(runner, examples, "segment", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(cli_engines) == 1
    assert cli_engines[0].pool.checkedin() == 0
