"""groups.yaml (SPEC §8, §9): parsing, and `passcli validate --json` reporting every problem
of groups.yaml, and the references to groups from segments.yaml and messages.yaml, as
FILE:LINE:COLUMN with a did-you-mean."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from sqlalchemy import insert

from passcli.cli.app import app
from passcli.groups.spec import (
    GroupsFile,
    ManualGroup,
    MembershipGroup,
    SmsKeywords,
    SubscriptionGroup,
    parse_groups,
)
from passcli.project import load_project
from passcli.scaffold import template_text
from passcli.segments.spec import Problem
from passcli.store import write_transaction
from passcli.store.schema import items

REPO = Path(__file__).resolve().parents[2]

SEGMENTS = """
    segments:
      everyone:
        conditions:
          - attribute: {name: email, op: exists}
    """

GROUPS = """
    groups:
      members:
        kind: membership
        items: [annual-membership]
      vip:
        kind: manual
      loyalty:
        kind: subscription
        channel: sms
        join_keywords: [LOYALTY]
        join_reply: "Welcome to {{ organizationName }}! Reply STOP to opt out."
    """


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def files(project: Path, engine) -> Path:
    """The project, on a migrated store (`validate` reads its items), with a valid
    segments.yaml and groups.yaml, and no messages.yaml (the starter messages name the
    starter segments); tests overwrite the file they test."""
    write(project, "segments.yaml", SEGMENTS)
    write(project, "groups.yaml", GROUPS)
    (project / "messages.yaml").unlink()
    return project


def validate(runner, project: Path) -> tuple[int, list[str]]:
    """`passcli validate --json`: the exit code and each problem as FILE:LINE:COLUMN: text."""
    result = runner.invoke(app, ["validate", "--project", str(project), "--json"])
    document = json.loads(result.stdout)
    assert document["valid"] is (result.exit_code == 0)
    problems = [
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in document["problems"]
    ]
    return result.exit_code, problems


# -- parsing --------------------------------------------------------------------------------


def test_the_example_groups_parse_into_their_three_kinds():
    problems: list[Problem] = []
    parsed = parse_groups(yaml.safe_load(template_text("groups.yaml")), problems)
    assert problems == []
    assert parsed.groups == {
        "members": MembershipGroup(
            kind="membership",
            description="Everyone with an active Annual Membership.",
            items=["annual-membership"],
        ),
        "vip": ManualGroup(kind="manual", description="Friends of the program, added by hand."),
        "loyalty": SubscriptionGroup(
            kind="subscription",
            description="The Explorer loyalty club, joined by texting LOYALTY.",
            channel="sms",
            join_keywords=["LOYALTY"],
            join_reply=(
                "Welcome to the Explorer loyalty club! Msg&data rates may apply. "
                "Reply STOP to opt out."
            ),
        ),
    }
    assert parsed.subscription_groups() == {"loyalty": parsed.groups["loyalty"]}
    assert set(parsed.offers) == {"member-free-entry", "vip-field-guide"}


def test_the_repository_groups_yaml_is_the_demo_template():
    assert (REPO / "groups.yaml").read_text(encoding="utf-8") == template_text("groups.yaml")


def test_the_example_project_files_are_valid_together_with_the_example_items(example_files):
    with (example_files / "items.csv").open(encoding="utf-8") as handle:
        known = {line.split(",", 1)[0] for line in handle.readlines()[1:]}
    _, found = load_project(REPO, known)
    assert [str(d) for d in found] == []


def test_sms_keyword_replies_default_to_the_spec_texts():
    parsed = parse_groups({"groups": {"vip": {"kind": "manual"}}}, [])
    assert parsed.sms_keywords == SmsKeywords()
    assert parsed.sms_keywords.model_dump() == {
        "help_reply": "{{ organizationName }}: reply STOP to opt out.",
        "stop_reply": (
            "You're unsubscribed and will get no more messages. Reply START to resubscribe."
        ),
        "start_reply": "You're resubscribed. Reply STOP to opt out.",
    }


def test_an_absent_or_empty_groups_file_declares_nothing():
    assert parse_groups(None, []) == GroupsFile()


def test_join_keywords_are_upper_cased_and_one_keyword_may_be_a_plain_string():
    problems: list[Problem] = []
    parsed = parse_groups(
        {
            "groups": {
                "club": {"kind": "subscription", "join_keywords": "club"},
                "m": {"kind": "membership", "items": "annual-membership"},
            }
        },
        problems,
    )
    assert problems == []
    club, members = parsed.groups["club"], parsed.groups["m"]
    assert isinstance(club, SubscriptionGroup) and club.join_keywords == ["CLUB"]
    assert isinstance(members, MembershipGroup) and members.items == ["annual-membership"]


# -- validate: groups.yaml ----------------------------------------------------------------


def test_the_valid_files_validate(runner, files):
    assert validate(runner, files) == (0, [])


def test_an_unknown_kind_suggests_the_nearest(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          vip:
            kind: manul
          club:
            description: no kind at all
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:3:11: group needs kind: one of manual, membership, subscription,"
            " not 'manul' (did you mean \"manual\"?)",
            "groups.yaml:5:5: group needs kind: one of manual, membership, subscription",
        ],
    )


def test_unknown_keys_suggest_the_field_of_that_kind(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          members:
            kind: membership
            itmes: [annual-membership]
          vip:
            kind: manual
            join_keywords: [VIP]
        sms_keyword:
          help_reply: hi
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:3:5: group needs items",
            "groups.yaml:4:5: unknown key 'itmes' (did you mean \"items\"?)",
            "groups.yaml:7:5: unknown key 'join_keywords'",
            "groups.yaml:8:1: unknown key 'sms_keyword' (did you mean \"sms_keywords\"?)",
        ],
    )


@pytest.mark.parametrize(
    "word", ["STOP", "stop", "Cancel", "unsubscribe", "END", "quit", '"YES"', "Unstop", "info"]
)
def test_a_join_keyword_that_is_a_stop_start_or_help_word_is_refused(runner, files, word):
    write(
        files,
        "groups.yaml",
        f"""
        groups:
          loyalty:
            kind: subscription
            join_keywords: [LOYALTY, {word}]
        """,
    )
    word = word.strip('"')
    assert validate(runner, files) == (
        2,
        [
            f"groups.yaml:4:30: {word.upper()} is a reserved keyword (STOP, START and HELP words)",
        ],
    )


def test_a_join_keyword_must_be_one_word_of_letters_and_digits(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          loyalty:
            kind: subscription
            join_keywords: [LOYALTY, "JOIN NOW", "CLUB!", 2026]
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:4:30: join_keywords: a keyword is one word of letters and digits,"
            " not 'JOIN NOW'",
            "groups.yaml:4:42: join_keywords: a keyword is one word of letters and digits,"
            " not 'CLUB!'",
        ],
    )


def test_an_unquoted_yes_or_on_is_a_boolean_to_yaml_and_must_be_quoted(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          club:
            kind: subscription
            join_keywords: [on, "ON2"]
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:4:21: join_keywords: YAML reads this unquoted word as true:"
            " quote the keyword"
        ],
    )


def test_the_same_join_keyword_in_two_groups_is_refused_where_it_repeats(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          loyalty:
            kind: subscription
            join_keywords: [LOYALTY, CLUB]
          club:
            kind: subscription
            join_keywords:
              - JOIN
              - Loyalty
        """,
    )
    assert validate(runner, files) == (
        2,
        ["groups.yaml:9:9: keyword LOYALTY already joins group 'loyalty'"],
    )


def test_an_unknown_item_is_reported_once_the_store_has_items(runner, files, engine):
    write(
        files,
        "groups.yaml",
        """
        groups:
          members:
            kind: membership
            items: [annual-membership, anual-membership]
        offers:
          free-entry:
            groups: [members]
            items: [member-tiket]
        """,
    )
    # No items in the store yet: item names cannot be checked.
    assert validate(runner, files) == (0, [])
    with write_transaction(engine) as conn:
        conn.execute(
            insert(items),
            [
                {"id": "annual-membership", "name": "Annual Membership", "kind": "membership"},
                {"id": "member-ticket", "name": "Member ticket", "kind": "ticket"},
            ],
        )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:4:32: unknown item 'anual-membership'"
            ' (did you mean "annual-membership"?)',
            "groups.yaml:8:13: unknown item 'member-tiket' (did you mean \"member-ticket\"?)",
        ],
    )


def test_an_offer_naming_an_unknown_group_suggests_the_nearest(runner, files):
    write(
        files,
        "groups.yaml",
        GROUPS
        + """
    offers:
      free-entry:
        groups: [member, vip]
      nobody:
        groups: zzz
    """,
    )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:15:14: unknown group 'member' (did you mean \"members\"?)",
            "groups.yaml:17:13: unknown group 'zzz'",
        ],
    )


def test_an_offer_naming_a_broken_group_is_reported_only_at_the_group(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          members:
            kind: membership
            items: []
        offers:
          free-entry:
            groups: [members]
        """,
    )
    code, problems = validate(runner, files)
    assert code == 2
    assert [p.split(": ", 1)[0] for p in problems] == ["groups.yaml:4:12"]
    assert "items" in problems[0]


def test_a_reply_template_may_only_use_the_organization_name(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          loyalty:
            kind: subscription
            join_keywords: [LOYALTY]
            join_reply: |
              Welcome to {{ organizationName }}!
              Hi {{ customerFirstName }}, your code is {{ code }}.
        sms_keywords:
          help_reply: "{{ orgName }}: reply STOP to opt out."
          stop_reply: "Bye {% if x %}"
          start_reply: "{{ organizationName }}: welcome back."
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            # A `|` block: the line inside it that holds the variable.
            "groups.yaml:7:7: join_reply: unknown variable 'code'",
            "groups.yaml:7:7: join_reply: unknown variable 'customerFirstName'",
            # A quoted scalar: where it starts.
            "groups.yaml:9:15: help_reply: unknown variable 'orgName'"
            ' (did you mean "organizationName"?)',
            "groups.yaml:10:15: stop_reply: template syntax error: Unexpected end of template."
            " Jinja was looking for the following tags: 'elif' or 'else' or 'endif'."
            " The innermost block that needs to be closed is 'if'.",
        ],
    )


def test_a_misspelt_reply_key_does_not_hide_the_template_problems_of_the_others(runner, files):
    write(
        files,
        "groups.yaml",
        """
        sms_keywords:
          help_reply: "{{ org }}: reply STOP to opt out."
          stop_replay: "Bye."
          start_reply: [not, text]
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            "groups.yaml:2:15: help_reply: unknown variable 'org'",
            "groups.yaml:3:3: unknown key 'stop_replay' (did you mean \"stop_reply\"?)",
            "groups.yaml:4:16: start_reply: Input should be a valid string",
        ],
    )


def test_every_problem_of_groups_yaml_is_reported_at_once_in_file_order(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          vip:
            kind: manuel
          loyalty:
            kind: subscription
            join_keywords: [QUIT]
            join_reply: "{{ first_name }}"
        offers:
          free:
            groups: [vipp]
        """,
    )
    result = runner.invoke(app, ["validate", "--project", str(files)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "groups.yaml:3:11: group needs kind: one of manual, membership, subscription,"
        " not 'manuel' (did you mean \"manual\"?)",
        "groups.yaml:6:21: QUIT is a reserved keyword (STOP, START and HELP words)",
        "groups.yaml:7:17: join_reply: unknown variable 'first_name'",
        "groups.yaml:10:14: unknown group 'vipp' (did you mean \"vip\"?)",
        "4 problems",
    ]


# -- validate: references from segments.yaml and messages.yaml ---------------------------


def test_a_group_condition_naming_an_unknown_group_is_located_even_when_nested(runner, files):
    write(
        files,
        "segments.yaml",
        """
        segments:
          a:
            conditions:
              - group: loyalti
          b:
            match: any
            conditions:
              - not: {group: vip}
              - any:
                  - group: member
                  - group: members
        """,
    )
    assert validate(runner, files) == (
        2,
        [
            "segments.yaml:4:16: unknown group 'loyalti' (did you mean \"loyalty\"?)",
            "segments.yaml:10:20: unknown group 'member' (did you mean \"members\"?)",
        ],
    )


def test_a_group_condition_without_groups_yaml_says_none_are_declared(runner, files):
    (files / "groups.yaml").unlink()
    write(
        files,
        "segments.yaml",
        """
        segments:
          a:
            conditions:
              - group: vip
        """,
    )
    assert validate(runner, files) == (
        2,
        ["segments.yaml:4:16: unknown group 'vip' (groups.yaml declares no groups)"],
    )


MESSAGE = """
    messages:
      club-news:
        segments: [everyone]
        channel: sms
        body: "{{{{ organizationName }}}}: club news."
        subscription_group: {group}
    """


def test_a_message_for_the_subscription_group_is_valid(runner, files):
    write(files, "messages.yaml", MESSAGE.format(group="loyalty"))
    assert validate(runner, files) == (0, [])


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("vip", "'vip' is a manual group, not a subscription group"),
        ("members", "'members' is a membership group, not a subscription group"),
        ("loyaltty", "unknown subscription group 'loyaltty' (did you mean \"loyalty\"?)"),
    ],
)
def test_subscription_group_must_name_a_subscription_group(runner, files, group, message):
    write(files, "messages.yaml", MESSAGE.format(group=group))
    code, problems = validate(runner, files)
    assert code == 2
    assert problems == [f"messages.yaml:6:25: {message}"]


def test_a_broken_group_is_not_reported_again_where_segments_name_it(runner, files):
    write(
        files,
        "groups.yaml",
        """
        groups:
          vip:
            kind: manual
            colour: gold
        """,
    )
    write(
        files,
        "segments.yaml",
        """
        segments:
          a:
            conditions:
              - group: vip
        """,
    )
    assert validate(runner, files) == (2, ["groups.yaml:4:5: unknown key 'colour'"])
