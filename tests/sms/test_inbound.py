"""Inbound SMS (SPEC §8, §2, §6) through `receive_sms`: what each keyword does to consent,
subscription groups and events, the replies (sent once, through the ledger), texts from
phones no customer has yet (applied when such a customer is imported), and retried
webhooks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from passcli.branding import Branding
from passcli.delivery.base import Outgoing
from passcli.delivery.transports import Transports
from passcli.errors import PermanentDeliveryError, UsageError
from passcli.groups.members import add_members
from passcli.importing.load import import_file
from passcli.project import require_project
from passcli.scaffold import template_text
from passcli.sms.inbound import DEFAULT_JOIN_REPLY, InboundSms, Received, receive_sms
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import (
    consent_changes,
    customers,
    deliveries,
    events,
    group_members,
    inbound_messages,
)

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
WALL = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # the lease's clock, not `now`
ORG = "Explorer Passes"
BRANDING = Branding(ORG, "https://example.com/pass/{customer_id}", "https://example.com/u", "k")

JOIN_REPLY = (
    "Welcome to the Explorer loyalty club! Msg&data rates may apply. Reply STOP to opt out."
)
STOP_REPLY = "You're unsubscribed and will get no more messages. Reply START to resubscribe."
START_REPLY = "You're resubscribed. Reply STOP to opt out."
HELP_REPLY = f"{ORG}: reply STOP to opt out."

ADA = "+13035550100"  # c1, not opted in to SMS by the import
GRACE = "+13035550101"  # c2, opted in by the import
STRANGER = "+17205550199"  # no customer has it

CUSTOMERS = """\
id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
c1,ada@example.com,(303) 555-0100,Ada,Lovelace,,,,false
c2,grace@example.com,303-555-0101,Grace,Hopper,,,,true
c3,sam@example.com,,Sam,Noone,,,,
"""


class Recorder:
    """An SMS transport that keeps what it is given; `fail` makes it refuse permanently."""

    idempotent = False

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.fail = False

    def send(self, message: Outgoing) -> str:
        if self.fail:
            raise PermanentDeliveryError("HTTP 400: the number is not a mobile number")
        self.sent.append(message)
        return f"SM{len(self.sent)}"

    def close(self) -> None:
        return None

    @property
    def texts(self) -> list[tuple[str, str]]:
        return [(m.to, m.body) for m in self.sent]


class Club:
    """A project with the example groups.yaml over a store with three customers; `text`
    receives an SMS as `passcli sms receive` would."""

    def __init__(self, directory: Path, engine: Engine, files: Path) -> None:
        self.dir = directory
        self.engine = engine
        self.files = files
        self.sms = Recorder()

    def text(self, phone: str, body: str, sid: str | None = None, now: datetime = NOW) -> Received:
        return receive_sms(
            self.engine,
            require_project(self.dir),
            InboundSms(phone, body, sid),
            now=now,
            tz=UTC,
            region="US",
            branding=BRANDING,
            transports=Transports.fixed(self.sms, self.sms),
            wall_clock=lambda: WALL,
            sleep=lambda seconds: None,
        )

    def import_customers(self, text: str, now: datetime = NOW) -> None:
        path = self.files / "customers.csv"
        path.write_text(dedent(text), encoding="utf-8")
        report = import_file(self.engine, "customers", path, tz=UTC, region="US", now=now)
        assert report.rejected == 0, report.rejections

    def write_groups(self, text: str) -> None:
        (self.dir / "groups.yaml").write_text(dedent(text), encoding="utf-8")

    def select(self, table: Any, *where: Any) -> list[dict[str, Any]]:
        with read_transaction(self.engine) as conn:
            found = conn.execute(select(table).where(*where).order_by(table.c[_key(table)]))
            return [dict(r._mapping) for r in found]

    def customer(self, customer_id: str) -> dict[str, Any]:
        (row,) = self.select(customers, customers.c.id == customer_id)
        return row

    def consent(self, customer_id: str) -> list[tuple[bool, str, str, datetime]]:
        rows = self.select(consent_changes, consent_changes.c.customer_id == customer_id)
        assert {r["channel"] for r in rows} <= {"sms"}
        return [(r["opted_in"], r["source"], r["detail"], r["at"]) for r in rows]

    def groups_of(self, customer_id: str) -> list[tuple[str, str]]:
        rows = self.select(group_members, group_members.c.customer_id == customer_id)
        return sorted((r["group_name"], r["source"]) for r in rows)

    def keyword_events(self, customer_id: str) -> list[tuple[dict[str, Any], datetime]]:
        rows = self.select(
            events, events.c.customer_id == customer_id, events.c.event == "SMS Keyword"
        )
        return [(r["properties"], r["ts"]) for r in rows]

    def replies(self) -> list[dict[str, Any]]:
        rows = self.select(deliveries)
        return [
            {
                k: r[k]
                for k in (
                    "send_key",
                    "recipient",
                    "kind",
                    "message",
                    "occurrence",
                    "customer_id",
                    "channel",
                    "address",
                    "status",
                )
            }
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        with read_transaction(self.engine) as conn:
            return {
                t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (inbound_messages, events, consent_changes, deliveries, group_members)
            }


def _key(table: Any) -> str:
    return "id" if "id" in table.c else "message_id"


@pytest.fixture
def club(project: Path, engine: Engine, tmp_path: Path) -> Club:
    (project / "groups.yaml").write_text(template_text("groups.yaml"), encoding="utf-8")
    files = tmp_path / "files"
    files.mkdir()
    found = Club(project, engine, files)
    found.import_customers(CUSTOMERS)
    return found


# -- a join keyword from a known customer ------------------------------------------------


def test_loyalty_from_a_customer_joins_opts_in_records_the_event_and_replies_once(club):
    received = club.text("(303) 555-0100", " loyalty\n", sid="SM-in-1")

    assert received.to_json() == {
        "phone": ADA,
        "keyword": "LOYALTY",
        "action": "join",
        "group": "loyalty",
        "customers": ["c1"],
        "duplicate": False,
        "reply": JOIN_REPLY,
        "reply_status": "sent",
    }
    assert club.groups_of("c1") == [("loyalty", "keyword")]
    ada = club.customer("c1")
    assert (ada["sms_opt_in"], ada["sms_consent_source"]) == (True, "person")
    assert club.consent("c1") == [(True, "keyword", "LOYALTY", NOW)]
    assert club.keyword_events("c1") == [
        ({"keyword": "LOYALTY", "group": "loyalty", "body": " loyalty\n"}, NOW)
    ]
    assert club.sms.texts == [(ADA, JOIN_REPLY)]
    assert club.replies() == [
        {
            "send_key": f"reply:{received.inbound_id}",
            "recipient": "c1",
            "kind": "reply",
            "message": "sms-reply",
            "occurrence": "LOYALTY",
            "customer_id": "c1",
            "channel": "sms",
            "address": ADA,
            "status": "sent",
        }
    ]
    (stored,) = club.select(inbound_messages)
    assert {k: stored[k] for k in ("provider_id", "phone", "body", "customer_id")} == {
        "provider_id": "SM-in-1",
        "phone": ADA,
        "body": " loyalty\n",
        "customer_id": "c1",
    }


def test_the_same_message_sid_again_changes_nothing(club):
    first = club.text(ADA, "LOYALTY", sid="SM-in-1")
    before = club.counts()

    again = club.text(ADA, "LOYALTY", sid="SM-in-1", now=NOW + timedelta(seconds=30))

    assert again.duplicate is True
    assert again.inbound_id == first.inbound_id
    assert (again.reply, again.reply_status, again.customer_ids) == (None, None, ())
    assert club.counts() == before
    assert club.sms.texts == [(ADA, JOIN_REPLY)]


def test_a_second_join_keyword_from_a_member_gets_no_second_welcome(club):
    club.text(ADA, "LOYALTY")
    second = club.text(ADA, "Loyalty", now=NOW + timedelta(minutes=5))

    assert (second.action, second.reply, second.reply_status) == ("join", None, None)
    assert club.sms.texts == [(ADA, JOIN_REPLY)]
    assert club.groups_of("c1") == [("loyalty", "keyword")]
    # Both texts are events.
    assert [e["keyword"] for e, _ in club.keyword_events("c1")] == ["LOYALTY", "LOYALTY"]


def test_a_join_keyword_from_a_customer_added_by_hand_opts_in_without_a_second_welcome(club):
    with write_transaction(club.engine) as conn:
        add_members(conn, require_project(club.dir).groups, "loyalty", [ADA], region="US", now=NOW)
    received = club.text(ADA, "LOYALTY")
    assert received.reply is None
    assert club.customer("c1")["sms_opt_in"] is True
    assert club.groups_of("c1") == [("loyalty", "manual")]


# -- STOP, START, HELP --------------------------------------------------------------------


def test_stop_opts_out_ends_keyword_memberships_and_confirms(club):
    club.text(GRACE, "LOYALTY")
    with write_transaction(club.engine) as conn:
        add_members(conn, require_project(club.dir).groups, "vip", [GRACE], region="US", now=NOW)

    later = NOW + timedelta(hours=1)
    received = club.text(GRACE, "Stop", now=later)

    assert (received.action, received.keyword, received.reply) == ("stop", "STOP", STOP_REPLY)
    assert received.reply_status == "sent"  # a STOP is confirmed, though now opted out
    grace = club.customer("c2")
    assert (grace["sms_opt_in"], grace["sms_consent_source"]) == (False, "person")
    assert club.consent("c2") == [
        (True, "keyword", "LOYALTY", NOW),
        (False, "keyword", "STOP", later),
    ]
    # The membership the keyword started ends; one added by hand stays.
    assert club.groups_of("c2") == [("vip", "manual")]
    assert club.keyword_events("c2")[-1] == (
        {"keyword": "STOP", "group": None, "body": "Stop"},
        later,
    )
    assert club.sms.texts == [(GRACE, JOIN_REPLY), (GRACE, STOP_REPLY)]


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "end", "QUIT"])
def test_every_stop_word_opts_out(club, word):
    received = club.text(GRACE, word)
    assert (received.action, received.keyword) == ("stop", word.upper())
    assert club.customer("c2")["sms_opt_in"] is False


def test_start_after_stop_opts_in_again_without_rejoining(club):
    club.text(ADA, "LOYALTY")
    club.text(ADA, "STOP", now=NOW + timedelta(minutes=1))
    received = club.text(ADA, " yes ", now=NOW + timedelta(minutes=2))

    assert (received.action, received.keyword, received.reply) == ("start", "YES", START_REPLY)
    ada = club.customer("c1")
    assert (ada["sms_opt_in"], ada["sms_consent_source"]) == (True, "person")
    assert [c[:3] for c in club.consent("c1")] == [
        (True, "keyword", "LOYALTY"),
        (False, "keyword", "STOP"),
        (True, "keyword", "YES"),
    ]
    assert club.groups_of("c1") == []


def test_stop_then_the_join_keyword_joins_again_with_the_welcome(club):
    club.text(ADA, "LOYALTY")
    club.text(ADA, "STOP", now=NOW + timedelta(minutes=1))
    received = club.text(ADA, "LOYALTY", now=NOW + timedelta(minutes=2))

    assert (received.reply, received.reply_status) == (JOIN_REPLY, "sent")
    assert club.groups_of("c1") == [("loyalty", "keyword")]
    assert club.customer("c1")["sms_opt_in"] is True
    assert club.sms.texts == [(ADA, JOIN_REPLY), (ADA, STOP_REPLY), (ADA, JOIN_REPLY)]


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_gets_the_help_reply_with_the_organization_name_and_changes_no_consent(club, word):
    received = club.text(ADA, word)
    assert (received.action, received.reply, received.reply_status) == ("help", HELP_REPLY, "sent")
    assert club.sms.texts == [(ADA, HELP_REPLY)]
    assert club.consent("c1") == []
    assert club.customer("c1")["sms_opt_in"] is False
    assert club.keyword_events("c1") == [
        ({"keyword": word.upper(), "group": None, "body": word}, NOW)
    ]


def test_help_is_answered_even_after_stop(club):
    club.text(ADA, "STOP")
    assert club.text(ADA, "HELP", now=NOW + timedelta(minutes=1)).reply_status == "sent"
    assert club.sms.texts[-1] == (ADA, HELP_REPLY)


def test_unknown_text_is_an_event_only(club):
    before = club.counts()
    received = club.text(ADA, "what time do you open?")

    assert received.to_json() == {
        "phone": ADA,
        "keyword": "",
        "action": "none",
        "group": None,
        "customers": ["c1"],
        "duplicate": False,
        "reply": None,
        "reply_status": None,
    }
    assert club.keyword_events("c1") == [
        ({"keyword": "", "group": None, "body": "what time do you open?"}, NOW)
    ]
    after = club.counts()
    assert after["deliveries"] == before["deliveries"]
    assert after["consent_changes"] == before["consent_changes"]
    assert club.sms.texts == []


def test_replies_come_from_groups_yaml_and_a_join_reply_has_a_default(club):
    club.write_groups(
        """
        groups:
          club:
            kind: subscription
            join_keywords: [CLUB, JOIN]
        sms_keywords:
          stop_reply: "{{ organizationName }}: you are out. Text START to come back."
          help_reply: "{{ organizationName }} help: call 303-555-0000."
        """
    )
    assert club.text(ADA, "join").reply == DEFAULT_JOIN_REPLY.replace("{{ organizationName }}", ORG)
    assert club.groups_of("c1") == [("club", "keyword")]
    assert club.text(ADA, "help").reply == f"{ORG} help: call 303-555-0000."
    assert club.text(ADA, "stop").reply == f"{ORG}: you are out. Text START to come back."
    assert club.text(ADA, "start").reply == START_REPLY  # the default
    assert club.text(ADA, "LOYALTY").action == "none"  # not a keyword of this project


def test_a_project_without_groups_yaml_still_honours_stop(club):
    (club.dir / "groups.yaml").unlink()
    assert club.text(GRACE, "STOP").reply == STOP_REPLY
    assert club.customer("c2")["sms_opt_in"] is False


def test_everyone_sharing_the_phone_is_affected_and_the_reply_goes_once(club):
    club.import_customers(
        """\
        id,email,phone,first_name,last_name
        c4,ada.work@example.com,303.555.0100,Ada,Work
        """
    )
    received = club.text(ADA, "LOYALTY")
    assert received.customer_ids == ("c1", "c4")
    assert club.groups_of("c1") == club.groups_of("c4") == [("loyalty", "keyword")]
    assert club.sms.texts == [(ADA, JOIN_REPLY)]
    assert [r["recipient"] for r in club.replies()] == ["c1"]

    club.text(ADA, "STOP", now=NOW + timedelta(minutes=1))
    assert (club.customer("c1")["sms_opt_in"], club.customer("c4")["sms_opt_in"]) == (
        False,
        False,
    )


def test_a_failed_reply_is_recorded_as_failed_and_the_keyword_still_counts(club):
    club.sms.fail = True
    received = club.text(ADA, "LOYALTY")
    assert received.reply_status == "failed"
    assert [r["status"] for r in club.replies()] == ["failed"]
    assert club.groups_of("c1") == [("loyalty", "keyword")]


@pytest.mark.parametrize("phone", ["", "hello", "12"])
def test_a_bad_sender_number_is_bad_usage_and_stores_nothing(club, phone):
    before = club.counts()
    with pytest.raises(UsageError, match="sender's phone number"):
        club.text(phone, "STOP")
    assert club.counts() == before


# -- texts from phones no customer has yet -------------------------------------------------


def test_a_join_keyword_from_an_unknown_phone_replies_to_the_phone_and_waits(club):
    received = club.text("720-555-0199", "LOYALTY")

    assert (received.customer_ids, received.reply_status) == ((), "sent")
    assert club.sms.texts == [(STRANGER, JOIN_REPLY)]
    assert club.replies() == [
        {
            "send_key": f"reply:{received.inbound_id}",
            "recipient": f"sms:{STRANGER}",
            "kind": "reply",
            "message": "sms-reply",
            "occurrence": "LOYALTY",
            "customer_id": None,
            "channel": "sms",
            "address": STRANGER,
            "status": "sent",
        }
    ]
    pending = club.select(group_members, group_members.c.customer_id.is_(None))
    assert [(p["group_name"], p["address"], p["source"]) for p in pending] == [
        ("loyalty", STRANGER, "keyword")
    ]
    # Twice from the unknown phone: one pending membership, one welcome.
    assert club.text(STRANGER, "LOYALTY", now=NOW + timedelta(minutes=1)).reply is None
    assert len(club.select(group_members)) == 1


def test_importing_the_customer_with_that_phone_applies_the_join(club):
    club.text(STRANGER, "LOYALTY")
    later = NOW + timedelta(days=2)
    # The file says no SMS: the person's own opt-in by keyword wins.
    club.import_customers(
        """\
        id,email,phone,first_name,last_name,sms_opt_in
        c9,new@example.com,+1 720 555 0199,New,Person,false
        """,
        now=later,
    )

    assert club.groups_of("c9") == [("loyalty", "keyword")]
    new = club.customer("c9")
    assert (new["sms_opt_in"], new["sms_consent_source"]) == (True, "person")
    assert club.consent("c9") == [(True, "keyword", "LOYALTY", NOW)]
    assert club.keyword_events("c9") == [
        ({"keyword": "LOYALTY", "group": "loyalty", "body": "LOYALTY"}, NOW)
    ]
    (stored,) = club.select(inbound_messages)
    assert stored["customer_id"] == "c9"
    assert club.select(group_members, group_members.c.customer_id.is_(None)) == []
    # No second welcome at import, and importing again changes nothing.
    assert len(club.sms.sent) == 1
    before = club.counts()
    club.import_customers("id,email,phone\nc9,new@example.com,+17205550199\n", now=later)
    assert club.counts() == before


def test_stop_from_an_unknown_phone_beats_a_later_import_that_opts_in(club):
    received = club.text(STRANGER, "STOP")
    assert (received.reply, received.customer_ids) == (STOP_REPLY, ())
    assert club.sms.texts == [(STRANGER, STOP_REPLY)]

    club.import_customers(
        "id,email,phone,sms_opt_in\nc9,new@example.com,7205550199,true\n",
        now=NOW + timedelta(days=1),
    )
    new = club.customer("c9")
    assert (new["sms_opt_in"], new["sms_consent_source"]) == (False, "person")
    assert club.consent("c9") == [(False, "keyword", "STOP", NOW)]

    # An import later still cannot opt them back in: only START can.
    club.import_customers(
        "id,email,phone,sms_opt_in\nc9,new@example.com,7205550199,true\n",
        now=NOW + timedelta(days=2),
    )
    assert club.customer("c9")["sms_opt_in"] is False


def test_texts_from_an_unknown_phone_apply_in_the_order_received(club):
    club.text(STRANGER, "LOYALTY")
    club.text(STRANGER, "STOP", now=NOW + timedelta(minutes=1))
    other = "+17205550198"
    club.text(other, "STOP")
    club.text(other, "LOYALTY", now=NOW + timedelta(minutes=1))

    club.import_customers(
        "id,email,phone,sms_opt_in\nu1,u1@example.com,+17205550199,\n"
        "u2,u2@example.com,+17205550198,\n",
        now=NOW + timedelta(days=1),
    )

    # LOYALTY then STOP: out. STOP then LOYALTY: in.
    assert (club.groups_of("u1"), club.customer("u1")["sms_opt_in"]) == ([], False)
    assert (club.groups_of("u2"), club.customer("u2")["sms_opt_in"]) == (
        [("loyalty", "keyword")],
        True,
    )
    assert [e["keyword"] for e, _ in club.keyword_events("u1")] == ["LOYALTY", "STOP"]


def test_an_identify_event_with_the_phone_also_applies_waiting_texts(club):
    club.text(STRANGER, "LOYALTY")
    path = club.files / "events.jsonl"
    path.write_text(
        '{"type": "identify", "userId": "u5", "traits": {"phone": "720 555 0199"}}\n',
        encoding="utf-8",
    )
    report = import_file(club.engine, "events", path, tz=UTC, region="US", now=NOW)
    assert report.rejected == 0
    assert club.groups_of("u5") == [("loyalty", "keyword")]
    assert club.customer("u5")["sms_opt_in"] is True


def test_an_unknown_text_from_an_unknown_phone_becomes_an_event_at_import(club):
    club.text(STRANGER, "hi, is this the museum?")
    assert club.sms.texts == []
    club.import_customers("id,phone\nu1,+17205550199\n", now=NOW + timedelta(days=1))
    assert club.keyword_events("u1") == [
        ({"keyword": "", "group": None, "body": "hi, is this the museum?"}, NOW)
    ]
    assert club.consent("u1") == []


# -- a webhook retried while the first delivery is still being handled ----------------------


def at_once(club: Club, phone: str, sids: list[str | None]) -> list[Received]:
    """`receive_sms` of LOYALTY from `phone` in as many threads as `sids`, released together."""
    project = require_project(club.dir)
    barrier = threading.Barrier(len(sids))

    def receive(sid: str | None) -> Received:
        barrier.wait()
        return receive_sms(
            club.engine,
            project,
            InboundSms(phone, "LOYALTY", sid),
            now=NOW,
            tz=UTC,
            region="US",
            branding=BRANDING,
            transports=Transports.fixed(club.sms, club.sms),
            wall_clock=lambda: WALL,
            sleep=lambda seconds: None,
        )

    with ThreadPoolExecutor(len(sids)) as pool:
        return list(pool.map(receive, sids))


def test_the_same_message_sid_received_at_once_is_applied_once(club):
    """Twilio retries a webhook that did not answer in time, so two requests for one
    MessageSid can overlap: one applies it, the others see a duplicate, none fails."""
    results = at_once(club, ADA, ["SM-retried"] * 6)

    assert sorted(r.duplicate for r in results) == [False] + [True] * 5
    assert len({r.inbound_id for r in results}) == 1
    assert club.counts()["inbound_messages"] == 1
    assert club.sms.texts == [(ADA, JOIN_REPLY)]
    assert len(club.keyword_events("c1")) == 1


def test_join_keywords_from_an_unknown_phone_at_once_keep_one_pending_member(club):
    results = at_once(club, STRANGER, [f"SM{i}" for i in range(6)])

    assert [r.duplicate for r in results] == [False] * 6
    assert sorted(r.reply_status for r in results if r.reply_status) == ["sent"]
    assert club.sms.texts == [(STRANGER, JOIN_REPLY)]
    assert club.counts()["inbound_messages"] == 6
    assert [(m["address"], m["customer_id"]) for m in club.select(group_members)] == [
        (STRANGER, None)
    ]
