"""segments.yaml validation (SPEC §3): every problem at once, as FILE:LINE:COLUMN: message."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from textwrap import dedent

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from passcli import sampledata
from passcli.cli.app import app
from passcli.project import load_project
from passcli.store import open_store, write_transaction
from passcli.store.schema import items

REPO = Path(__file__).resolve().parents[2]


def diagnostics(tmp_path: Path, text: str, known_items: set[str] | None = None) -> list[str]:
    (tmp_path / "segments.yaml").write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    _, found = load_project(tmp_path, known_items)
    return [str(d) for d in found]


def test_a_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - purchase: {item: explorer-pass
          b: 1
        """
    assert diagnostics(tmp_path, text) == ["segments.yaml:5:4: expected ',' or '}', but got ':'"]


def test_a_bad_indentation_is_located(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
            - purchase: {item: x}
             - purchase: {item: y}
        """
    assert diagnostics(tmp_path, text) == [
        "segments.yaml:5:6: expected <block end>, but found '<block sequence start>'"
    ]


def test_an_unknown_condition_suggests_the_nearest_kind(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - purchse: {item: explorer-pass}
        """
    assert diagnostics(tmp_path, text) == [
        "segments.yaml:4:9: unknown condition 'purchse' (did you mean \"purchase\"?)"
    ]


def test_an_unknown_key_in_a_condition_suggests_the_field(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - expiration: {item: explorer-pass, days_until_expiration: {less_than: 30}, itme: x}
        """
    assert diagnostics(tmp_path, text) == [
        "segments.yaml:4:83: unknown key 'itme' in expiration (did you mean \"item\"?)"
    ]


def test_a_misspelt_required_key_is_reported_as_unknown_and_missing(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - purchase: {itme: explorer-pass}
        """
    assert diagnostics(tmp_path, text) == [
        "segments.yaml:4:19: purchase needs item",
        "segments.yaml:4:20: unknown key 'itme' in purchase (did you mean \"item\"?)",
    ]


def test_an_unknown_key_inside_a_comparison_suggests_the_operator(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - purchase:
                  item: explorer-pass
                  days_since_purchase: {exactli: 2}
        """
    found = diagnostics(tmp_path, text)
    assert "segments.yaml:6:33: unknown key 'exactli' in purchase (did you mean \"exactly\"?)" in (
        found
    )


@pytest.mark.parametrize(
    ("comparison", "column", "message"),
    [
        (
            "{exactly: 2, less_than: 3}",
            33,
            "count: give exactly one of exactly, less_than, greater_than, at_least, at_most, "
            "between",
        ),
        ("{between: [5, 1]}", 33, "count: between needs [low, high] with low <= high"),
        (
            "{}",
            33,
            "count: give exactly one of exactly, less_than, greater_than, at_least, at_most, "
            "between",
        ),
    ],
    ids=["two-operators", "between-reversed", "no-operator"],
)
def test_a_bad_comparison_is_reported_at_the_comparison(
    tmp_path: Path, comparison: str, column: int, message: str
) -> None:
    text = f"""
        segments:
          a:
            conditions:
              - event: {{name: X, count: {comparison}}}
        """
    assert diagnostics(tmp_path, text) == [f"segments.yaml:4:{column}: {message}"]


def test_an_unknown_segment_reference_suggests_the_nearest_name(tmp_path: Path) -> None:
    text = """
        segments:
          high-ltv:
            conditions:
              - event: {name: Order Completed}
          vip:
            conditions:
              - segment: hihg-ltv
        """
    assert diagnostics(tmp_path, text) == [
        "segments.yaml:7:18: unknown segment 'hihg-ltv' (did you mean \"high-ltv\"?)"
    ]


def test_an_unknown_segment_inside_not_is_located_at_the_name(tmp_path: Path) -> None:
    text = """
        segments:
          high-ltv:
            conditions:
              - event: {name: Order Completed}
          others:
            conditions:
              - not:
                  segment: hihg-ltv
        """
    assert diagnostics(tmp_path, text) == [
        "segments.yaml:8:20: unknown segment 'hihg-ltv' (did you mean \"high-ltv\"?)"
    ]


def test_a_reference_cycle_is_an_error(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - segment: b
          b:
            match: any
            conditions:
              - event: {name: X}
              - all:
                  - segment: a
        """
    assert diagnostics(tmp_path, text) == ["segments.yaml:10:22: segment cycle: a -> b -> a"]


def test_a_segment_referring_to_itself_is_a_cycle(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - segment: a
        """
    assert diagnostics(tmp_path, text) == ["segments.yaml:4:18: segment cycle: a -> a"]


ITEMS_TEXT = """
    segments:
      a:
        conditions:
          - purchase: {item: [explorer-pass, explorer-pas]}
          - redemptions: {pass: brewery-pass, count: {exactly: 0}}
    """


def test_unknown_items_are_reported_once_the_store_has_items(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, ITEMS_TEXT, {"explorer-pass", "prize-tshirt"}) == [
        # located at the misspelt item itself, inside the flow list
        "segments.yaml:4:42: unknown item 'explorer-pas' (did you mean \"explorer-pass\"?)",
        "segments.yaml:5:29: unknown item 'brewery-pass' (did you mean \"explorer-pass\"?)",
    ]


def test_an_unknown_item_in_a_block_list_is_located_at_that_item(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - purchase:
                  item:
                    - explorer-pass
                    - explorer-pas
        """
    assert diagnostics(tmp_path, text, {"explorer-pass"}) == [
        "segments.yaml:7:15: unknown item 'explorer-pas' (did you mean \"explorer-pass\"?)"
    ]


def test_items_are_not_checked_while_the_store_has_none(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, ITEMS_TEXT, None) == []


def test_every_problem_in_the_file_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = """
        segments:
          a:
            conditions:
              - purchse: {item: explorer-pass}
              - purchase: {item: explorer-pass, days_since_purchase: {exactly: 2, less_than: 3}}
              - segment: tow
          two:
            descripton: Two.
            match: every
            conditions:
              - redemptions: {pass: explorer-pas, count: {exactly: 0}}
              - attribute: {name: email, op: equals}
          three:
            conditions: []
        """
    assert diagnostics(tmp_path, text, {"explorer-pass"}) == [
        "segments.yaml:4:9: unknown condition 'purchse' (did you mean \"purchase\"?)",
        "segments.yaml:5:62: days_since_purchase: give exactly one of exactly, less_than, "
        "greater_than, at_least, at_most, between",
        "segments.yaml:6:18: unknown segment 'tow' (did you mean \"two\"?)",
        "segments.yaml:8:5: unknown key 'descripton' (did you mean \"description\"?)",
        "segments.yaml:9:12: match must be all or any, not 'every'",
        "segments.yaml:11:29: unknown item 'explorer-pas' (did you mean \"explorer-pass\"?)",
        "segments.yaml:12:20: attribute: op equals needs a value",
        "segments.yaml:14:5: segment 'three' needs a non-empty conditions: list",
    ]


def test_the_projects_segments_file_is_valid_against_the_example_items(tmp_path: Path) -> None:
    sampledata.generate(tmp_path)
    with (tmp_path / "items.csv").open(encoding="utf-8") as handle:
        example_items = {row["id"] for row in csv.DictReader(handle)}
    assert {"explorer-pass", "prize-tshirt"} <= example_items
    _, found = load_project(REPO, example_items)
    assert [str(d) for d in found if d.file == "segments.yaml"] == []


# -- passcli validate -----------------------------------------------------------------------

BROKEN = """
    segments:
      a:
        conditions:
          - purchse: {item: explorer-pass}
      b:
        conditions:
          - segment: aa
    """


@pytest.fixture
def broken(project: Path) -> Path:
    """A project whose only file is a segments.yaml with two problems."""
    (project / "segments.yaml").write_text(dedent(BROKEN).lstrip("\n"), encoding="utf-8")
    (project / "messages.yaml").unlink()  # its messages name the starter segments
    return project


def test_validate_prints_each_problem_on_stderr_and_exits_2(
    runner: CliRunner, broken: Path
) -> None:
    result = runner.invoke(app, ["validate", "--project", str(broken)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "segments.yaml:4:9: unknown condition 'purchse' (did you mean \"purchase\"?)",
        "segments.yaml:7:18: unknown segment 'aa' (did you mean \"a\"?)",
        "2 problems",
    ]


def test_validate_json_lists_the_problems(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(app, ["validate", "--project", str(broken), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "valid": False,
        "problems": [
            {
                "file": "segments.yaml",
                "line": 4,
                "column": 9,
                "message": "unknown condition 'purchse' (did you mean \"purchase\"?)",
            },
            {
                "file": "segments.yaml",
                "line": 7,
                "column": 18,
                "message": "unknown segment 'aa' (did you mean \"a\"?)",
            },
        ],
    }


def test_validate_checks_items_against_the_store(
    runner: CliRunner, project: Path, database_url: str
) -> None:
    engine = open_store(database_url)
    with write_transaction(engine) as conn:
        conn.execute(insert(items), [{"id": "explorer-pass", "name": "Explorer", "kind": "pass"}])
    engine.dispose()
    result = runner.invoke(app, ["validate", "--project", str(project), "--json"])
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert [(p["line"], p["message"]) for p in problems] == [
        (44, "unknown item 'prize-tshirt'"),
    ]


def test_validate_json_of_a_valid_project(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(app, ["validate", "--project", str(project), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"valid": True, "problems": []}
