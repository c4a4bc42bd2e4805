"""`passcli sms receive` end to end (SPEC §8, §5, §6), with the outbox transport: keywords
change who gets later sends (`passcli send`), replies show in `passcli log`, and a message
with `subscription_group:` reaches only that group's members.

`sms receive --json` prints {"phone", "keyword", "action", "group", "customers",
"duplicate", "reply", "reply_status"}: the sender in E.164, the keyword matched (upper
case, or ""), the action (stop, start, help, join or none), the group a join keyword
names, the ids of the customers with that phone, whether the MessageSid was seen before,
the reply text (null when none was due) and its delivery status.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest
from sqlalchemy import Engine

from passcli.cli.app import app
from passcli.importing.load import import_file
from passcli.scaffold import template_text

NOW = "2026-11-22T17:00:00Z"
AT = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = "2026-11-22T18:00:00Z"
LATEST = "2026-11-22T19:00:00Z"
ORG = "Explorer Passes"
RECEIVE_KEYS = {
    "phone",
    "keyword",
    "action",
    "group",
    "customers",
    "duplicate",
    "reply",
    "reply_status",
}
JOIN_REPLY = (
    "Welcome to the Explorer loyalty club! Msg&data rates may apply. Reply STOP to opt out."
)
ADA = "+13035550100"
GRACE = "+13035550101"
STRANGER = "+17205550199"

CUSTOMERS = """\
    id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
    c1,ada@example.com,(303) 555-0100,Ada,Lovelace,,,,true
    c2,grace@example.com,303-555-0101,Grace,Hopper,,,,true
    c3,sam@example.com,303-555-0102,Sam,Stone,,,,true
    """
ITEMS = """\
    id,name,kind,duration_days
    annual-membership,Annual Membership,membership,365
    member-ticket,Members' ticket,ticket,
    field-guide,Denver Field Guide,product,
    """
SEGMENTS = """\
    segments:
      texters:
        conditions:
          - attribute: {name: phone, op: exists}
      loyalty-texters:
        conditions:
          - event:
              name: SMS Keyword
              where: [{property: keyword, op: equals, value: LOYALTY}]
    """
MESSAGES = """\
    messages:
      news:
        segments: [texters]
        channel: sms
        body: "{{ organizationName }}: new spots this week."
        once_per_customer: false
      club-news:
        segments: [texters]
        channel: sms
        subscription_group: loyalty
        body: "{{ organizationName }} club: double points on Sunday."
        once_per_customer: false
    """


def invoke(runner, project: Path, *args: object, now: str = NOW):
    return runner.invoke(app, [*(str(a) for a in args), "--project", str(project), "--now", now])


def run_json(runner, project: Path, *args: object, now: str = NOW):
    result = invoke(runner, project, *args, "--json", now=now)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def receive(runner, project: Path, phone: str, body: str, *options: str, now: str = NOW):
    document = run_json(
        runner, project, "sms", "receive", "--from", phone, "--body", body, *options, now=now
    )
    assert set(document) == RECEIVE_KEYS
    return document


@pytest.fixture
def club(project: Path, engine: Engine, tmp_path: Path, monkeypatch) -> Path:
    """The example groups.yaml, SMS messages for everyone and for the loyalty club, three
    customers opted in to SMS; the SMS transport is the project's outbox."""
    monkeypatch.setenv("PASSCLI_ORG_NAME", ORG)
    (project / "groups.yaml").write_text(template_text("groups.yaml"), encoding="utf-8")
    (project / "segments.yaml").write_text(dedent(SEGMENTS), encoding="utf-8")
    (project / "messages.yaml").write_text(dedent(MESSAGES), encoding="utf-8")
    for kind, text in (("items", ITEMS), ("customers", CUSTOMERS)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(dedent(text), encoding="utf-8")
        report = import_file(engine, kind, path, tz=UTC, region="US", now=AT)
        assert report.rejected == 0, report.rejections
    return project


def outbox(project: Path) -> list[dict[str, str]]:
    folder = project / "outbox" / "sms"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [json.loads(p.read_text(encoding="utf-8")) for p in files]


def replies_log(runner, project: Path) -> list[dict[str, object]]:
    """`passcli log --message sms-reply`: the replies, the same as the whole log's."""
    every = run_json(runner, project, "log")["deliveries"]
    replies = [d for d in every if d["message"] == "sms-reply"]
    if replies:
        assert run_json(runner, project, "log", "--message", "sms-reply")["deliveries"] == replies
    return replies


def send(runner, project: Path, name: str, *options: str, now: str = NOW):
    return run_json(runner, project, "send", name, "--yes", *options, now=now)


def test_loyalty_joins_replies_once_and_shows_in_the_log(runner, club):
    document = receive(runner, club, "303-555-0100", "loyalty", "--message-sid", "SM1")
    assert document == {
        "phone": ADA,
        "keyword": "LOYALTY",
        "action": "join",
        "group": "loyalty",
        "customers": ["c1"],
        "duplicate": False,
        "reply": JOIN_REPLY,
        "reply_status": "sent",
    }
    assert [(t["to"], t["body"]) for t in outbox(club)] == [(ADA, JOIN_REPLY)]
    assert replies_log(runner, club) == [
        {
            "message": "sms-reply",
            "occurrence": "LOYALTY",
            "customer_id": "c1",
            "channel": "sms",
            "to": ADA,
            "status": "sent",
            "at": NOW,
            "error": None,
            "carrier_status": None,
            "carrier_error": None,
            "carrier_status_at": None,
        }
    ]
    shown = run_json(runner, club, "group", "show", "loyalty")
    assert [(m["id"], m["source"], m["added_at"]) for m in shown["members"]] == [
        ("c1", "keyword", NOW)
    ]
    profile = run_json(runner, club, "customer", "show", "c1")
    assert profile["customer"]["sms_opt_in"] is True
    assert [(e["event"], e["properties"]) for e in profile["events"]] == [
        ("SMS Keyword", {"keyword": "LOYALTY", "group": "loyalty", "body": "loyalty"})
    ]
    # The event feeds segments (and journeys waiting for it).
    preview = run_json(runner, club, "segment", "preview", "loyalty-texters")
    assert [c["id"] for c in preview["customers"]] == ["c1"]


def test_the_same_message_sid_again_does_nothing_new(runner, club):
    receive(runner, club, ADA, "LOYALTY", "--message-sid", "SM1")
    again = receive(runner, club, ADA, "LOYALTY", "--message-sid", "SM1", now=LATER)
    assert again["duplicate"] is True
    assert (again["reply"], again["reply_status"]) == (None, None)
    assert len(outbox(club)) == 1
    assert len(replies_log(runner, club)) == 1
    assert len(run_json(runner, club, "customer", "show", "c1")["events"]) == 1

    result = invoke(
        runner,
        club,
        "sms",
        "receive",
        "--from",
        ADA,
        "--body",
        "LOYALTY",
        "--message-sid",
        "SM1",
    )
    assert result.exit_code == 0
    assert result.stderr.strip() == f"{ADA}: already received (SM1); nothing done again"


def test_loyalty_twice_gets_one_welcome(runner, club):
    receive(runner, club, ADA, "LOYALTY")
    second = receive(runner, club, ADA, "LOYALTY", now=LATER)
    assert (second["duplicate"], second["reply"]) == (False, None)
    assert len(outbox(club)) == 1
    assert len(replies_log(runner, club)) == 1


def test_stop_skips_later_sends_as_unsubscribed_and_start_undoes_it(runner, club):
    stop = receive(runner, club, ADA, " Stop\n")
    assert (stop["action"], stop["reply_status"]) == ("stop", "sent")

    sent = send(runner, club, "news", now=LATER)
    assert sent["skipped"] == {"unsubscribed": 1}
    assert [r["customer_id"] for r in sent["recipients"]] == ["c2", "c3"]
    assert ADA not in [t["to"] for t in outbox(club) if t["body"].startswith(ORG)]

    start = receive(runner, club, ADA, "START", now=LATER)
    assert start["reply"] == "You're resubscribed. Reply STOP to opt out."
    again = send(runner, club, "news", now=LATEST)
    assert again["skipped"] == {}
    assert [r["customer_id"] for r in again["recipients"]] == ["c1", "c2", "c3"]


def test_stop_then_loyalty_joins_again_with_the_join_reply(runner, club):
    receive(runner, club, ADA, "LOYALTY")
    receive(runner, club, ADA, "STOP", now=LATER)
    assert run_json(runner, club, "group", "show", "loyalty", now=LATER)["count"] == 0

    rejoin = receive(runner, club, ADA, "LOYALTY", now=LATEST)
    assert (rejoin["reply"], rejoin["reply_status"]) == (JOIN_REPLY, "sent")
    assert run_json(runner, club, "group", "show", "loyalty", now=LATEST)["count"] == 1
    assert [d["occurrence"] for d in replies_log(runner, club)] == ["LOYALTY", "STOP", "LOYALTY"]


def test_help_reply_is_rendered_with_the_organization_name(runner, club):
    document = receive(runner, club, GRACE, "help")
    assert document["reply"] == f"{ORG}: reply STOP to opt out."
    assert outbox(club)[0]["body"] == f"{ORG}: reply STOP to opt out."


def test_an_unknown_text_is_an_event_only(runner, club):
    document = receive(runner, club, GRACE, "STOP.")
    assert (document["keyword"], document["action"], document["reply"]) == ("", "none", None)
    assert outbox(club) == []
    assert replies_log(runner, club) == []
    assert run_json(runner, club, "customer", "show", "c2")["events"][0]["properties"] == {
        "keyword": "",
        "group": None,
        "body": "STOP.",
    }
    result = invoke(runner, club, "sms", "receive", "--from", GRACE, "--body", "thanks!")
    assert result.stderr.strip() == f"{GRACE} (c2): no keyword, none"


def test_a_join_keyword_from_an_unknown_phone_then_its_customer_is_imported(runner, club, tmp_path):
    document = receive(runner, club, "(720) 555-0199", "LOYALTY")
    assert (document["customers"], document["reply_status"]) == ([], "sent")
    assert [t["to"] for t in outbox(club)] == [STRANGER]
    assert [(d["customer_id"], d["to"]) for d in replies_log(runner, club)] == [(None, STRANGER)]
    shown = run_json(runner, club, "group", "show", "loyalty")
    assert (shown["count"], shown["pending"]) == (
        0,
        [{"address": STRANGER, "source": "keyword", "added_at": NOW}],
    )

    path = tmp_path / "new.csv"
    path.write_text(
        "id,email,phone,sms_opt_in\nc9,new@example.com,720.555.0199,false\n", encoding="utf-8"
    )
    assert invoke(runner, club, "import", "customers", path, now=LATER).exit_code == 0

    shown = run_json(runner, club, "group", "show", "loyalty", now=LATER)
    assert [m["id"] for m in shown["members"]] == ["c9"]
    assert shown["pending"] == []
    profile = run_json(runner, club, "customer", "show", "c9", now=LATER)
    assert profile["customer"]["sms_opt_in"] is True
    assert [(e["event"], e["ts"]) for e in profile["events"]] == [("SMS Keyword", NOW)]
    # The club's news now reaches them.
    club_news = run_json(runner, club, "send", "club-news", "--dry-run", now=LATER)
    assert [r["customer_id"] for r in club_news["recipients"]] == ["c9"]


def test_stop_from_an_unknown_phone_beats_an_import_that_opts_in(runner, club, tmp_path):
    receive(runner, club, STRANGER, "STOP")
    path = tmp_path / "new.csv"
    path.write_text(
        "id,email,phone,sms_opt_in\nc9,new@example.com,+17205550199,true\n", encoding="utf-8"
    )
    assert invoke(runner, club, "import", "customers", path, now=LATER).exit_code == 0
    assert run_json(runner, club, "customer", "show", "c9")["customer"]["sms_opt_in"] is False
    sent = send(runner, club, "news", now=LATEST)
    assert sent["skipped"] == {"unsubscribed": 1}
    assert "c9" not in [r["customer_id"] for r in sent["recipients"]]


def test_a_subscription_group_message_reaches_only_the_members(runner, club):
    receive(runner, club, ADA, "LOYALTY")
    run_json(runner, club, "group", "add", "loyalty", "sam@example.com")

    dry = run_json(runner, club, "send", "club-news", "--dry-run", now=LATER)
    assert dry["audience"] == 2
    assert [(r["customer_id"], r["to"], r["status"]) for r in dry["recipients"]] == [
        ("c1", ADA, "dry_run"),
        ("c3", "+13035550102", "dry_run"),
    ]
    everyone = run_json(runner, club, "send", "news", "--dry-run", now=LATER)
    assert everyone["audience"] == 3

    # A member who texted STOP left the club: the next club message skips nobody for it,
    # it simply no longer reaches them.
    receive(runner, club, ADA, "STOP", now=LATER)
    dry = run_json(runner, club, "send", "club-news", "--dry-run", now=LATEST)
    assert [r["customer_id"] for r in dry["recipients"]] == ["c3"]
    assert (dry["audience"], dry["skipped"]) == (1, {})


def test_a_subscriber_added_by_hand_who_texts_stop_stays_in_the_group_but_is_skipped(runner, club):
    run_json(runner, club, "group", "add", "loyalty", "sam@example.com")
    receive(runner, club, "+13035550102", "STOP")
    dry = run_json(runner, club, "send", "club-news", "--dry-run", now=LATER)
    assert (dry["audience"], dry["skipped"], dry["recipients"]) == (1, {"unsubscribed": 1}, [])


def test_sms_receive_human_output(runner, club):
    result = invoke(runner, club, "sms", "receive", "--from", ADA, "--body", "LOYALTY")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"{ADA} (c1): LOYALTY, join loyalty; reply sent"
    result = invoke(runner, club, "sms", "receive", "--from", STRANGER, "--body", "HELP")
    assert result.stderr.strip() == f"{STRANGER} (no customer yet): HELP, help; reply sent"


@pytest.mark.parametrize("phone", ["hello", "12"])
def test_a_bad_sender_number_exits_2_in_one_sentence(runner, club, phone):
    result = invoke(runner, club, "sms", "receive", "--from", phone, "--body", "STOP", "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"error: cannot parse phone number {phone!r} (the sender's phone number)"
    )
    assert replies_log(runner, club) == []


def test_sms_receive_needs_from_and_body(runner, club):
    result = invoke(runner, club, "sms", "receive", "--body", "STOP")
    assert result.exit_code == 2
    assert "--from" in result.stderr


def test_log_of_replies_before_any_reply_is_empty(runner, club):
    assert run_json(runner, club, "log", "--message", "sms-reply") == {"deliveries": []}
