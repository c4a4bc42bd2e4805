"""`passcli group list|show|add|remove` end to end (SPEC §5, §8): JSON shapes, human output,
exit codes and one-sentence errors, files of addresses, and `group:` segments in previews.

The JSON documents, as this test pins them (SPEC §5 leaves their shape to passcli):
- `group list --json`: {"at", "groups": [{"name", "kind", "description", "members", "pending"}]}
  in groups.yaml order; `members` counts customers now, `pending` the addresses kept for a
  customer to come.
- `group show NAME --json`: {"group", "kind", "at", "count", "members": [{"id", "email",
  "phone", "first_name", "last_name", "added_at", "source"}], "pending": [{"address",
  "source", "added_at"}]}; members in id order, every one of them (no --limit); `added_at`
  and `source` ("manual", "file" or "keyword") are null for a membership group, whose
  members are the holders of its items.
- `group add NAME ... --json`: {"group", "added": [{"address", "customer_id"}], "pending":
  [address], "already": [address]}; addresses normalised (emails lower case, phones E.164).
- `group remove NAME ... --json`: {"group", "removed": [id or address], "not_members": [...]}.
Instants are ISO-8601 in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest
from sqlalchemy import Engine, func, select

from passcli.cli.app import app
from passcli.importing.load import import_file
from passcli.scaffold import template_text
from passcli.store import read_transaction
from passcli.store.schema import group_members

NOW = "2026-11-22T17:00:00Z"
AT = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = "2026-11-25T09:30:00Z"
LIST_KEYS = {"at", "groups"}
GROUP_KEYS = {"name", "kind", "description", "members", "pending"}
SHOW_KEYS = {"group", "kind", "at", "count", "members", "pending"}
MEMBER_KEYS = {"id", "email", "phone", "first_name", "last_name", "added_at", "source"}

FILES = {
    "customers.csv": """\
        id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
        c1,Ada@Example.com,(303) 555-0100,Ada,Lovelace,,,,true
        c2,grace@example.com,303-555-0101,Grace,Hopper,,,,
        c3,shared@example.com,,Sam,One,,,,
        c4,shared@example.com,,Sam,Two,,,,
        """,
    "items.csv": """\
        id,name,kind,duration_days
        annual-membership,Annual Membership,membership,365
        member-ticket,Members' ticket,ticket,
        field-guide,Denver Field Guide,product,
        """,
    # c2's membership runs until 2026-11-24 10:00Z; c3's ended before NOW.
    "purchases.csv": """\
        id,customer_id,item,channel,purchased_at,expires_at,status,amount
        p1,c2,annual-membership,web,2025-11-24T10:00:00Z,,active,90
        p2,c3,annual-membership,web,2025-01-01T10:00:00Z,2025-12-31T10:00:00Z,active,90
        """,
}

SEGMENTS = """\
    segments:
      vips:
        conditions:
          - group: vip
      members-now:
        conditions:
          - group: members
      everyone-else:
        conditions:
          - not: {group: vip}
          - not: {group: members}
      vip-or-member:
        match: any
        conditions:
          - group: vip
          - group: members
    """


def invoke(runner, project: Path, *args: object, now: str = NOW):
    return runner.invoke(app, [*(str(a) for a in args), "--project", str(project), "--now", now])


def run_json(runner, project: Path, *args: object, now: str = NOW):
    result = invoke(runner, project, *args, "--json", now=now)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


@pytest.fixture
def shop(project: Path, engine: Engine, tmp_path: Path) -> Path:
    """A project with the example groups.yaml and group segments, over a store with four
    customers (c3 and c4 share an email) and two memberships."""
    (project / "groups.yaml").write_text(template_text("groups.yaml"), encoding="utf-8")
    (project / "segments.yaml").write_text(dedent(SEGMENTS), encoding="utf-8")
    (project / "messages.yaml").unlink()
    for name, text in FILES.items():
        path = tmp_path / name
        path.write_text(dedent(text), encoding="utf-8")
        report = import_file(engine, name.split(".")[0], path, tz=UTC, region="US", now=AT)
        assert report.rejected == 0, report.rejections
    return project


def stored_rows(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(group_members)).scalar_one())


# -- group list -----------------------------------------------------------------------------


def test_group_list_json_counts_members_and_pending_per_group(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "ada@example.com", "soon@example.com")

    document = run_json(runner, shop, "group", "list")

    assert set(document) == LIST_KEYS
    assert document == {
        "at": NOW,
        "groups": [
            {
                "name": "members",
                "kind": "membership",
                "description": "Everyone with an active Annual Membership.",
                "members": 1,
                "pending": 0,
            },
            {
                "name": "vip",
                "kind": "manual",
                "description": "Friends of the program, added by hand.",
                "members": 1,
                "pending": 1,
            },
            {
                "name": "loyalty",
                "kind": "subscription",
                "description": "The Explorer loyalty club, joined by texting LOYALTY.",
                "members": 0,
                "pending": 0,
            },
        ],
    }
    assert all(set(g) == GROUP_KEYS for g in document["groups"])


def test_group_list_follows_now_for_membership_groups(runner, shop):
    later = run_json(runner, shop, "group", "list", now=LATER)
    assert later["at"] == LATER
    assert [(g["name"], g["members"]) for g in later["groups"]] == [
        ("members", 0),
        ("vip", 0),
        ("loyalty", 0),
    ]


def test_group_list_table_names_each_group_and_how_it_is_joined(runner, shop):
    result = invoke(runner, shop, "group", "list")
    assert result.exit_code == 0, result.stderr
    for expected in ("members", "membership", "vip", "manual", "loyalty", "LOYALTY"):
        assert expected in result.stdout


def test_group_list_without_groups_yaml(runner, project, engine):
    assert run_json(runner, project, "group", "list") == {"at": NOW, "groups": []}
    result = invoke(runner, project, "group", "list")
    assert result.exit_code == 0
    assert "no groups" in result.stderr + result.stdout


# -- group add ------------------------------------------------------------------------------


def test_group_add_json_by_email_any_case_and_phone_any_format(runner, shop, engine):
    document = run_json(
        runner,
        shop,
        "group",
        "add",
        "vip",
        "ADA@example.com",
        "+1 (303) 555-0101",
        "Shared@Example.com",
        "soon@example.com",
    )
    assert document == {
        "group": "vip",
        "added": [
            {"address": "ada@example.com", "customer_id": "c1"},
            {"address": "+13035550101", "customer_id": "c2"},
            {"address": "shared@example.com", "customer_id": "c3"},
            {"address": "shared@example.com", "customer_id": "c4"},
        ],
        "pending": ["soon@example.com"],
        "already": [],
    }
    again = run_json(runner, shop, "group", "add", "vip", "ada@example.com", "3035550101")
    assert again == {
        "group": "vip",
        "added": [],
        "pending": [],
        "already": ["ada@example.com", "+13035550101"],
    }
    assert stored_rows(engine) == 5


def test_group_add_says_what_it_did_on_stderr(runner, shop):
    result = invoke(runner, shop, "group", "add", "vip", "ada@example.com", "new@example.com")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "vip: added 1 customer, 1 pending (no customer yet), 0 already in"
    )


def test_a_pending_email_becomes_a_member_when_the_customer_is_imported(runner, shop, tmp_path):
    run_json(runner, shop, "group", "add", "vip", "Newcomer@example.com")
    path = tmp_path / "more.csv"
    path.write_text("id,email\nc9,NEWCOMER@example.com\n", encoding="utf-8")
    result = invoke(runner, shop, "import", "customers", path, now=LATER)
    assert result.exit_code == 0, result.stderr

    shown = run_json(runner, shop, "group", "show", "vip", now=LATER)
    assert [(m["id"], m["added_at"], m["source"]) for m in shown["members"]] == [
        ("c9", NOW, "manual")
    ]
    assert shown["pending"] == []


def test_a_pending_email_becomes_a_member_through_an_identify_event(runner, shop, tmp_path):
    run_json(runner, shop, "group", "add", "vip", "fan@example.com")
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps({"type": "identify", "userId": "u1", "traits": {"email": "fan@example.com"}})
        + "\n",
        encoding="utf-8",
    )
    assert invoke(runner, shop, "import", "events", path).exit_code == 0
    assert run_json(runner, shop, "group", "show", "vip")["count"] == 1


def test_group_add_file_csv_takes_the_email_column(runner, shop, tmp_path):
    path = tmp_path / "vips.csv"
    path.write_text(
        "id,email,phone,first_name,last_name\n"
        "c1,ada@example.com,+13035550100,Ada,Lovelace\n"
        "x1,,303 555 0101,Grace,Hopper\n"
        "x2,friend@example.com,,Friend,\n",
        encoding="utf-8",
    )
    document = run_json(runner, shop, "group", "add", "vip", "--file", path)
    assert document == {
        "group": "vip",
        "added": [
            {"address": "ada@example.com", "customer_id": "c1"},
            {"address": "+13035550101", "customer_id": "c2"},
        ],
        "pending": ["friend@example.com"],
        "already": [],
    }
    shown = run_json(runner, shop, "group", "show", "vip")
    assert {m["source"] for m in shown["members"]} == {"file"}
    assert shown["pending"] == [
        {"address": "friend@example.com", "source": "file", "added_at": NOW}
    ]


def test_group_add_file_plain_list_and_arguments_together(runner, shop, tmp_path):
    path = tmp_path / "vips.txt"
    path.write_text("# VIPs\nGRACE@example.com\n\n303.555.0100\n", encoding="utf-8")
    document = run_json(runner, shop, "group", "add", "vip", "shared@example.com", "--file", path)
    assert [(a["customer_id"]) for a in document["added"]] == ["c3", "c4", "c2", "c1"]
    shown = run_json(runner, shop, "group", "show", "vip")
    assert [(m["id"], m["source"]) for m in shown["members"]] == [
        ("c1", "file"),
        ("c2", "file"),
        ("c3", "manual"),
        ("c4", "manual"),
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["ada@example.com", "ada@@example"],
            "error: invalid email address 'ada@@example' (give an email address or a phone number)",
        ),
        (
            ["ada@example.com", "call me"],
            "error: cannot parse phone number 'call me' (give an email address or a phone number)",
        ),
        ([], "error: no address given: give at least one email or phone, or --file FILE"),
    ],
)
def test_a_bad_address_exits_2_and_adds_nobody(runner, shop, engine, args, message):
    result = invoke(runner, shop, "group", "add", "vip", *args, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == message
    assert stored_rows(engine) == 0


def test_a_bad_line_in_the_file_exits_2_with_its_line_and_adds_nobody(
    runner, shop, engine, tmp_path
):
    path = tmp_path / "vips.txt"
    path.write_text("ada@example.com\ngrace@example\n", encoding="utf-8")
    result = invoke(runner, shop, "group", "add", "vip", "shared@example.com", "--file", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {path}:2: invalid email address 'grace@example'"
        " (give an email address or a phone number)"
    )
    assert stored_rows(engine) == 0


def test_an_empty_file_or_a_missing_one_exits_2(runner, shop, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody yet\n", encoding="utf-8")
    result = invoke(runner, shop, "group", "add", "vip", "--file", empty)
    assert (result.exit_code, result.stderr.strip()) == (
        2,
        f"error: {empty} holds no address: give at least one email or phone, or --file FILE",
    )
    result = invoke(runner, shop, "group", "add", "vip", "--file", tmp_path / "nope.txt")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot read ")
    assert "Traceback" not in result.stderr


def test_adding_to_a_membership_group_exits_2_with_the_reason(runner, shop, engine):
    result = invoke(runner, shop, "group", "add", "members", "ada@example.com")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: group 'members' is a membership group: its members are the holders of "
        "annual-membership; add a purchase instead"
    )
    assert stored_rows(engine) == 0


@pytest.mark.parametrize("command", [["add", "vipp", "a@example.com"], ["show", "vipp"]])
def test_an_unknown_group_exits_2(runner, shop, command):
    result = invoke(runner, shop, "group", *command)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown group 'vipp'"


# -- group remove ---------------------------------------------------------------------------


def test_group_remove_json_by_id_email_and_phone(runner, shop, engine):
    run_json(
        runner,
        shop,
        "group",
        "add",
        "vip",
        "ada@example.com",
        "grace@example.com",
        "shared@example.com",
        "soon@example.com",
    )
    document = run_json(
        runner, shop, "group", "remove", "vip", "c1", "(303) 555-0101", "SOON@example.com", "c3"
    )
    assert document == {
        "group": "vip",
        "removed": ["c1", "+13035550101", "soon@example.com", "c3"],
        "not_members": [],
    }
    assert [m["id"] for m in run_json(runner, shop, "group", "show", "vip")["members"]] == ["c4"]
    again = run_json(runner, shop, "group", "remove", "vip", "c1", "ada@example.com")
    assert again == {"group": "vip", "removed": [], "not_members": ["c1", "ada@example.com"]}


def test_removing_from_a_membership_group_exits_2_with_a_clear_sentence(runner, shop):
    result = invoke(runner, shop, "group", "remove", "members", "c2")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "error: members of 'members' cannot be removed by hand: it is a membership group, "
        "and holding an active purchase of annual-membership is what makes them members"
    )
    assert run_json(runner, shop, "group", "show", "members")["count"] == 1


def test_removing_an_unknown_customer_id_exits_1(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "ada@example.com")
    result = invoke(runner, shop, "group", "remove", "vip", "c1", "c99")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: no customer with id 'c99' (and it is not an email or a phone number)"
    )
    assert run_json(runner, shop, "group", "show", "vip")["count"] == 1


# -- group show -----------------------------------------------------------------------------


def test_group_show_json_of_a_manual_group(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "grace@example.com", "soon@example.com")
    run_json(runner, shop, "group", "add", "vip", "ada@example.com", now=LATER)

    document = run_json(runner, shop, "group", "show", "vip", now=LATER)

    assert set(document) == SHOW_KEYS
    assert document == {
        "group": "vip",
        "kind": "manual",
        "at": LATER,
        "count": 2,
        "members": [
            {
                "id": "c1",
                "email": "ada@example.com",
                "phone": "+13035550100",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "added_at": LATER,
                "source": "manual",
            },
            {
                "id": "c2",
                "email": "grace@example.com",
                "phone": "+13035550101",
                "first_name": "Grace",
                "last_name": "Hopper",
                "added_at": NOW,
                "source": "manual",
            },
        ],
        "pending": [{"address": "soon@example.com", "source": "manual", "added_at": NOW}],
    }


def test_group_show_json_of_a_membership_group_follows_now(runner, shop):
    document = run_json(runner, shop, "group", "show", "members")
    assert document == {
        "group": "members",
        "kind": "membership",
        "at": NOW,
        "count": 1,
        "members": [
            {
                "id": "c2",
                "email": "grace@example.com",
                "phone": "+13035550101",
                "first_name": "Grace",
                "last_name": "Hopper",
                "added_at": None,
                "source": None,
            }
        ],
        "pending": [],
    }
    later = run_json(runner, shop, "group", "show", "members", now=LATER)
    assert (later["count"], later["members"]) == (0, [])


def test_group_show_limit_keeps_the_count(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "shared@example.com", "ada@example.com")
    document = run_json(runner, shop, "group", "show", "vip", "--limit", "1")
    assert document["count"] == 3
    assert [m["id"] for m in document["members"]] == ["c1"]


def test_group_show_table_lists_members_and_pending(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "ada@example.com", "soon@example.com")
    result = invoke(runner, shop, "group", "show", "vip")
    assert result.exit_code == 0, result.stderr
    assert "vip (manual): 1 member, 1 pending" in result.stderr
    # (cells of a narrow terminal wrap: only short ones are looked for)
    for expected in ("c1", "Ada", "Lovelace", "manual", "soon@example.com"):
        assert expected in result.stdout


# -- the group: condition in segments ------------------------------------------------------


def preview(runner, project: Path, name: str, now: str = NOW) -> list[str]:
    document = run_json(runner, project, "segment", "preview", name, now=now)
    assert document["count"] == len(document["customers"])
    return [c["id"] for c in document["customers"]]


def test_group_segments_follow_manual_changes_and_membership_purchases(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "ada@example.com")
    assert preview(runner, shop, "vips") == ["c1"]
    assert preview(runner, shop, "members-now") == ["c2"]
    assert preview(runner, shop, "vip-or-member") == ["c1", "c2"]
    assert preview(runner, shop, "everyone-else") == ["c3", "c4"]

    run_json(runner, shop, "group", "remove", "vip", "c1")
    assert preview(runner, shop, "vips") == []
    assert preview(runner, shop, "everyone-else") == ["c1", "c3", "c4"]
    # c2's membership has run out by LATER.
    assert preview(runner, shop, "members-now", now=LATER) == []
    assert preview(runner, shop, "everyone-else", now=LATER) == ["c1", "c2", "c3", "c4"]


def test_segment_list_sizes_group_segments(runner, shop):
    run_json(runner, shop, "group", "add", "vip", "shared@example.com")
    document = run_json(runner, shop, "segment", "list")
    sizes = {s["name"]: s["count"] for s in document["segments"]}
    assert sizes == {"vips": 2, "members-now": 1, "everyone-else": 1, "vip-or-member": 3}
