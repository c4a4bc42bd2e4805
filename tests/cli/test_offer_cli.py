"""`passcli offer list|show|check|redeem` end to end: --json documents, exit codes 0/1/2 and
the sentences on stderr."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from passcli.cli.app import app
from passcli.importing.load import import_file
from passcli.store import read_transaction
from passcli.store.schema import offer_uses
from passcli.timeutil import zone

NOW = "2026-11-22T10:00:00"  # Denver: 17:00Z
DENVER = zone("America/Denver")
IMPORTED = datetime(2026, 11, 1, tzinfo=UTC)
GROUPS_YAML = """\
groups:
  members:
    kind: membership
    items: [annual-membership]
  vip:
    kind: manual
offers:
  member-free-entry:
    title: Members' exclusive ticket
    description: A free entry ticket for members and up to three guests.
    groups: [members]
    items: [member-ticket]
    attendees: {max: 4}
    usage_limit: {uses: 10, per: month}
  closed:
    enabled: false
"""
FILES = {
    "customers.csv": """\
id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
c1,ada@example.com,,Ada,Lovelace,,,,
c2,grace@example.com,,Grace,Hopper,,,,
""",
    "items.csv": """\
id,name,kind,duration_days
annual-membership,Annual Membership,membership,365
member-ticket,Member ticket,ticket,
""",
    "purchases.csv": """\
id,customer_id,item,channel,purchased_at,expires_at,status,amount
p1,c1,annual-membership,web,2026-03-01T10:00:00Z,,active,99
""",
}
MONTH = {
    "per": "month",
    "label": "2026-11",
    "start": "2026-11-01T06:00:00Z",
    "end": "2026-12-01T07:00:00Z",
}


@pytest.fixture
def site(project: Path, engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project in Denver with groups.yaml's offers; c1 is a member, c2 is not."""
    monkeypatch.setenv("PASSCLI_TIMEZONE", "America/Denver")
    (project / "groups.yaml").write_text(GROUPS_YAML, encoding="utf-8")
    (project / "segments.yaml").write_text(
        "segments:\n  ticket-users:\n    conditions:\n"
        "      - offer: {name: member-free-entry, uses: {at_least: 1}}\n",
        encoding="utf-8",
    )
    (project / "messages.yaml").write_text("messages: {}\n", encoding="utf-8")
    for name, content in FILES.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        report = import_file(engine, name.split(".")[0], path, tz=DENVER, region="US", now=IMPORTED)
        assert report.rejected == 0, report.rejections
    return project


def invoke(runner, site, *args, now=NOW):
    return runner.invoke(app, [*map(str, args), "--project", str(site), "--now", now])


def recorded(engine) -> list[tuple[str, str, int]]:
    u = offer_uses.c
    with read_transaction(engine) as conn:
        rows = conn.execute(select(u.offer, u.customer_id, u.attendees).order_by(u.id))
        return [tuple(row) for row in rows]


def test_check_json_says_the_member_may_use_it_with_the_months_uses_and_exits_0(runner, site):
    result = invoke(
        runner, site, "offer", "check", "member-free-entry", "--customer", "c1", "--json"
    )

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert orjson.loads(result.stdout) == {
        "offer": "member-free-entry",
        "customer_id": "c1",
        "at": "2026-11-22T17:00:00Z",
        "attendees": 1,
        "eligible": True,
        "reason": None,
        "message": None,
        "max_attendees": 4,
        "limit": {"uses": 10, "per": "month"},
        "period": MONTH,
        "used": 0,
        "remaining": 10,
    }


def test_check_exits_1_with_the_reason_in_one_sentence_and_still_prints_the_document(runner, site):
    result = invoke(
        runner, site, "offer", "check", "member-free-entry", "--customer", "c2", "--json"
    )

    assert result.exit_code == 1
    assert result.stderr == "customer 'c2' is not in group 'members' of offer 'member-free-entry'\n"
    document = orjson.loads(result.stdout)
    assert (document["eligible"], document["reason"]) == (False, "not_in_group")
    assert document["message"] == result.stderr.strip()


def test_check_without_json_shows_the_verdict_and_the_uses_left(runner, site):
    result = invoke(
        runner, site, "offer", "check", "member-free-entry", "--customer", "c1", "--attendees", "4"
    )

    assert result.exit_code == 0, result.stderr
    assert "may use it now │ yes" in result.stdout
    assert "used           │ 0 of 10" in result.stdout
    assert "2026-11 (2026-11-01T06:00:00Z to 2026-12-01T07:00:00Z)" in result.stdout
    assert "attendees      │ 4 (at most 4)" in result.stdout


def test_redeem_records_a_use_per_attendee_and_refuses_past_the_limit(runner, site, engine):
    first = invoke(
        runner,
        site,
        "offer",
        "redeem",
        "member-free-entry",
        "--customer",
        "c1",
        "--attendees",
        "4",
        "--json",
    )
    assert first.exit_code == 0, first.stderr
    document = orjson.loads(first.stdout)
    assert document == {
        "offer": "member-free-entry",
        "customer_id": "c1",
        "at": "2026-11-22T17:00:00Z",
        "attendees": 4,
        "redeemed": True,
        "use_id": document["use_id"],
        "reason": None,
        "message": None,
        "max_attendees": 4,
        "limit": {"uses": 10, "per": "month"},
        "period": MONTH,
        "used": 4,
        "remaining": 6,
    }
    assert isinstance(document["use_id"], int)
    second = invoke(
        runner, site, "offer", "redeem", "member-free-entry", "--customer", "c1", "--attendees", "4"
    )
    assert second.exit_code == 0, second.stderr
    assert second.stdout.startswith("redeemed member-free-entry for c1 for 4 attendees (use ")
    assert "remaining │ 2" in second.stdout

    refused = invoke(
        runner,
        site,
        "offer",
        "redeem",
        "member-free-entry",
        "--customer",
        "c1",
        "--attendees",
        "3",
        "--json",
    )

    assert refused.exit_code == 1
    assert refused.stderr == (
        "error: customer 'c1' has 2 uses of offer 'member-free-entry' left this month "
        "(2026-11), not enough for 3 attendees\n"
    )
    refusal = orjson.loads(refused.stdout)
    assert {k: refusal[k] for k in ("redeemed", "use_id", "reason", "used", "remaining")} == {
        "redeemed": False,
        "use_id": None,
        "reason": "limit_reached",
        "used": 8,
        "remaining": 2,
    }
    assert recorded(engine) == [("member-free-entry", "c1", 4)] * 2
    # The next month starts afresh.
    december = invoke(
        runner,
        site,
        "offer",
        "check",
        "member-free-entry",
        "--customer",
        "c1",
        "--attendees",
        "3",
        "--json",
        now="2026-12-01T00:00:00",
    )
    assert orjson.loads(december.stdout)["remaining"] == 10


def test_redeem_refusals_exit_1_and_record_nothing(runner, site, engine):
    disabled = invoke(runner, site, "offer", "redeem", "closed", "--customer", "c1")
    outsider = invoke(runner, site, "offer", "redeem", "member-free-entry", "--customer", "c2")
    crowd = invoke(
        runner, site, "offer", "redeem", "member-free-entry", "--customer", "c1", "--attendees", "5"
    )

    assert (disabled.exit_code, disabled.stdout) == (1, "")
    assert disabled.stderr == "error: offer 'closed' is disabled\n"
    assert outsider.exit_code == 1
    assert outsider.stderr == (
        "error: customer 'c2' is not in group 'members' of offer 'member-free-entry'\n"
    )
    assert crowd.exit_code == 1
    assert crowd.stderr == (
        "error: offer 'member-free-entry' admits at most 4 attendees per use, the holder "
        "included, not 5\n"
    )
    assert recorded(engine) == []


@pytest.mark.parametrize("command", ["check", "redeem"])
def test_an_unknown_offer_exits_2_and_an_unknown_customer_exits_1(runner, site, engine, command):
    unknown_offer = invoke(runner, site, "offer", command, "member-free", "--customer", "c1")
    unknown_customer = invoke(
        runner, site, "offer", command, "member-free-entry", "--customer", "ghost"
    )
    no_attendees = invoke(
        runner, site, "offer", command, "member-free-entry", "--customer", "c1", "--attendees", "0"
    )

    assert unknown_offer.exit_code == 2
    assert unknown_offer.stderr == (
        "error: unknown offer 'member-free' (did you mean \"member-free-entry\"?)\n"
    )
    assert unknown_customer.exit_code == 1
    assert unknown_customer.stderr == "error: no customer with id 'ghost'\n"
    assert no_attendees.exit_code == 2
    assert "--attendees" in no_attendees.stderr
    assert recorded(engine) == []


def test_show_json_lists_uses_by_month_with_customers_and_totals(runner, site):
    for now, attendees in [("2026-10-31T23:59:59", 2), ("2026-11-01T00:00:00", 3)]:
        done = invoke(
            runner,
            site,
            "offer",
            "redeem",
            "member-free-entry",
            "--customer",
            "c1",
            "--attendees",
            attendees,
            now=now,
        )
        assert done.exit_code == 0, done.stderr

    result = invoke(runner, site, "offer", "show", "member-free-entry", "--periods", "2", "--json")

    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout) == {
        "offer": "member-free-entry",
        "at": "2026-11-22T17:00:00Z",
        "title": "Members' exclusive ticket",
        "description": "A free entry ticket for members and up to three guests.",
        "enabled": True,
        "groups": ["members"],
        "items": ["member-ticket"],
        "max_attendees": 4,
        "limit": {"uses": 10, "per": "month"},
        "per": "month",
        "periods": [
            {
                "per": "month",
                "label": "2026-10",
                "start": "2026-10-01T06:00:00Z",
                "end": "2026-11-01T06:00:00Z",
                "uses": 2,
                "redemptions": 1,
                "customers": 1,
            },
            {**MONTH, "uses": 3, "redemptions": 1, "customers": 1},
        ],
        "total": {"uses": 5, "redemptions": 2, "customers": 1},
        "eligible_customers": 1,
        "at_limit": 0,
    }
    # The segment condition sees the same uses.
    members = invoke(runner, site, "segment", "preview", "ticket-users", "--json")
    assert [c["id"] for c in orjson.loads(members.stdout)["customers"]] == ["c1"]


def test_show_without_json_and_by_another_period(runner, site):
    result = invoke(
        runner, site, "offer", "show", "member-free-entry", "--per", "week", "--periods", "3"
    )
    bad = invoke(runner, site, "offer", "show", "member-free-entry", "--per", "fortnight")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("member-free-entry: Members' exclusive ticket\n")
    assert "1 customer may use it now; 0 at the limit this month" in result.stdout
    assert [line.split()[0] for line in result.stdout.splitlines() if "-W" in line] == [
        "2026-W45",
        "2026-W46",
        "2026-W47",
    ]
    assert bad.exit_code == 2
    assert bad.stderr == (
        "error: --per must be one of day, week, month, year, ever, not 'fortnight'\n"
    )


def test_list_json_gives_each_offer_with_its_settings_and_uses(runner, site):
    invoke(runner, site, "offer", "redeem", "member-free-entry", "--customer", "c1")

    result = invoke(runner, site, "offer", "list", "--json")

    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout) == {
        "at": "2026-11-22T17:00:00Z",
        "offers": [
            {
                "name": "member-free-entry",
                "title": "Members' exclusive ticket",
                "description": "A free entry ticket for members and up to three guests.",
                "enabled": True,
                "groups": ["members"],
                "items": ["member-ticket"],
                "max_attendees": 4,
                "limit": {"uses": 10, "per": "month"},
                "uses": 1,
                "redemptions": 1,
                "customers": 1,
            },
            {
                "name": "closed",
                "title": None,
                "description": None,
                "enabled": False,
                "groups": [],
                "items": [],
                "max_attendees": 1,
                "limit": None,
                "uses": 0,
                "redemptions": 0,
                "customers": 0,
            },
        ],
    }


def test_now_and_project_may_come_before_the_subcommand(runner, site):
    result = runner.invoke(
        app,
        [
            "--project",
            str(site),
            "--now",
            NOW,
            "offer",
            "check",
            "member-free-entry",
            "--customer",
            "c1",
            "--json",
        ],
    )

    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["at"] == "2026-11-22T17:00:00Z"


def test_every_offer_command_has_help(runner):
    for command in ("list", "show", "check", "redeem"):
        result = runner.invoke(app, ["offer", command, "--help"])
        assert result.exit_code == 0
        assert "--project" in result.stdout and "--now" in result.stdout
        assert "--json" in result.stdout
