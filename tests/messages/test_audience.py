"""Who receives an occurrence, and the skip reason of everyone else, in SPEC §4's order:
no_address, unsubscribed, bounced, not_opted_in, already_sent, render_error, invalid_address."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from passcli.delivery.manual import send_now
from passcli.delivery.transports import Transports
from passcli.messages.audience import SKIP_REASONS, candidates_query, decide, members_query
from passcli.project import Project
from passcli.segments.compile import ID
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import customers, deliveries

from .conftest import BRANDING, NOW, TZ, message_of, segments_of


def test_skip_reasons_are_spec_order():
    assert SKIP_REASONS == (
        "no_address",
        "unsubscribed",
        "bounced",
        "not_opted_in",
        "already_sent",
        "frequency_cap",
        "render_error",
        "invalid_address",
    )


def row(**values):
    """A candidate who can receive both channels and has not had the message."""
    base = {
        "email": "ada@example.com",
        "phone": "+13035550100",
        "email_opt_in": True,
        "sms_opt_in": True,
        "email_consent_source": "import",
        "sms_consent_source": "import",
        "already_sent": False,
    }
    base.update(values)
    return SimpleNamespace(**base)


def blocked(channel, reason):
    """Row values that make `channel` fail with `reason` (and every later check too)."""
    prefix = "email" if channel == "email" else "sms"
    address = "email" if channel == "email" else "phone"
    if reason == "no_address":
        return {address: None, f"{prefix}_opt_in": False, f"{prefix}_consent_source": "person"}
    if reason == "unsubscribed":
        return {f"{prefix}_opt_in": False, f"{prefix}_consent_source": "person"}
    if reason == "not_opted_in":
        return {f"{prefix}_opt_in": False, f"{prefix}_consent_source": "import"}
    if reason == "bounced":
        return {f"{prefix}_opt_in": False, f"{prefix}_consent_source": "bounce"}
    raise AssertionError(reason)


EMAIL = message_of(channel="email", subject="s", body="b")
SMS = message_of(channel="sms", body="b")
ANY = message_of(channel="any", subject="s", body="b")


@pytest.mark.parametrize(("spec", "channel"), [(EMAIL, "email"), (SMS, "sms")])
def test_a_reachable_customer_gets_the_message_on_its_channel(spec, channel):
    decision = decide(row(), spec)
    assert (decision.channel, decision.reason) == (channel, None)


@pytest.mark.parametrize(("spec", "channel"), [(EMAIL, "email"), (SMS, "sms")])
@pytest.mark.parametrize("reason", ["no_address", "unsubscribed", "bounced", "not_opted_in"])
def test_the_first_failing_check_names_the_skip(spec, channel, reason):
    # already_sent is true as well: the earlier check wins.
    decision = decide(row(already_sent=True, **blocked(channel, reason)), spec)
    assert (decision.channel, decision.reason) == (None, reason)


@pytest.mark.parametrize("spec", [EMAIL, SMS, ANY])
def test_already_sent_comes_after_the_channel_checks(spec):
    decision = decide(row(already_sent=True), spec)
    assert (decision.channel, decision.reason) == (None, "already_sent")


@pytest.mark.parametrize("source", ["person", "carrier"])
def test_an_opt_out_by_a_person_or_a_carrier_is_unsubscribed(source):
    decision = decide(row(sms_opt_in=False, sms_consent_source=source), SMS)
    assert decision.reason == "unsubscribed"


@pytest.mark.parametrize("source", [None, "import"])
def test_an_opt_out_from_an_import_is_not_opted_in(source):
    decision = decide(row(email_opt_in=False, email_consent_source=source), EMAIL)
    assert decision.reason == "not_opted_in"


def test_an_email_message_does_not_fall_back_to_sms():
    decision = decide(row(**blocked("email", "no_address")), EMAIL)
    assert (decision.channel, decision.reason) == (None, "no_address")


def test_any_prefers_email_when_both_work():
    assert decide(row(), ANY).channel == "email"


@pytest.mark.parametrize("reason", ["no_address", "unsubscribed", "bounced", "not_opted_in"])
def test_any_falls_back_to_sms_when_email_cannot_be_received(reason):
    decision = decide(row(**blocked("email", reason)), ANY)
    assert (decision.channel, decision.reason) == ("sms", None)


@pytest.mark.parametrize(
    ("email", "sms", "reason"),
    [
        ("no_address", "no_address", "no_address"),
        ("unsubscribed", "no_address", "unsubscribed"),
        ("no_address", "unsubscribed", "unsubscribed"),
        ("no_address", "not_opted_in", "not_opted_in"),
        ("not_opted_in", "unsubscribed", "not_opted_in"),
        ("bounced", "unsubscribed", "bounced"),
        ("bounced", "not_opted_in", "not_opted_in"),
    ],
)
def test_any_names_the_check_that_got_furthest_when_neither_channel_works(email, sms, reason):
    values = {**blocked("email", email), **blocked("sms", sms), "already_sent": True}
    decision = decide(row(**values), ANY)
    assert (decision.channel, decision.reason) == (None, reason)


def test_any_that_fell_back_to_sms_still_checks_already_sent():
    values = {**blocked("email", "no_address"), "already_sent": True}
    assert decide(row(**values), ANY).reason == "already_sent"


# -- against a store -------------------------------------------------------------------------


def dry_run(engine, tmp_path, spec, segments=None):
    project = Project(tmp_path, segments or segments_of(), {"m": spec})
    return send_now(
        engine,
        project,
        "m",
        now=NOW,
        tz=TZ,
        branding=BRANDING,
        transports=Transports(lambda channel: pytest.fail("a dry run calls no transport")),
        wall_clock=lambda: NOW,
        sleep=lambda seconds: pytest.fail("a dry run never sleeps"),
        dry_run=True,
    )


def test_render_error_and_invalid_address_come_after_the_channel_checks_in_order(
    store, engine, tmp_path
):
    tier = {"tier": "gold"}
    store.customer("c1", attributes=tier)
    store.customer("c2")  # no tier: the template fails
    store.customer("c3", email="bob@localhost", attributes=tier)  # no dot in the domain
    store.customer("c4", email="bob@localhost")  # both: render_error is checked first
    store.customer("c5", email=None)  # no address: the template is never rendered
    store.customer("c6", email_opt_in=False, email_consent_source="person")
    store.customer("c7", email_opt_in=False)
    spec = message_of(channel="email", subject="s", body="Tier {{ customer.attributes.tier }}")
    report = dry_run(engine, tmp_path, spec)
    assert report.audience == 7
    assert report.sent == {"email": 1, "sms": 0}
    assert dict(report.skipped) == {
        "render_error": 2,
        "invalid_address": 1,
        "no_address": 1,
        "unsubscribed": 1,
        "not_opted_in": 1,
    }
    assert list(report.recipients) == [
        {"customer_id": "c1", "channel": "email", "to": "c1@example.com", "status": "dry_run"}
    ]


def test_any_sends_sms_to_whoever_cannot_get_email(store, engine, tmp_path):
    store.customer("c1", phone="+13035550101", sms_opt_in=True)
    store.customer("c2", email=None, phone="+13035550102", sms_opt_in=True)
    store.customer("c3", email_opt_in=False, phone="+13035550103", sms_opt_in=True)
    store.customer("c4", email=None, phone="+13035550104")
    spec = message_of(channel="any", subject="s", body="long", sms_body="short")
    report = dry_run(engine, tmp_path, spec)
    assert [(r["customer_id"], r["channel"], r["to"]) for r in report.recipients] == [
        ("c1", "email", "c1@example.com"),
        ("c2", "sms", "+13035550102"),
        ("c3", "sms", "+13035550103"),
    ]
    assert report.skipped == {"not_opted_in": 1}


def test_exclude_leaves_members_of_those_segments_out_of_the_audience(store, engine, tmp_path):
    for name in ("c1", "c2", "c3"):
        store.customer(name, attributes={"vip": name != "c2"})
    segments = segments_of(
        {
            "everyone": {"conditions": [{"attribute": {"name": "id", "op": "exists"}}]},
            "vips": {"conditions": [{"attribute": {"name": "vip", "op": "equals", "value": True}}]},
        }
    )
    spec = message_of(channel="email", subject="s", body="b", exclude=["vips"])
    with read_transaction(engine) as conn:
        ids = list(conn.execute(members_query(segments, spec, NOW, TZ)).scalars())
    assert ids == ["c2"]
    assert dry_run(engine, tmp_path, spec, segments).audience == 1


def ledger_row(customer_id, status, message="m", send_key="manual:m:earlier"):
    return {
        "send_key": send_key,
        "recipient": customer_id,
        "kind": "message",
        "message": message,
        "customer_id": customer_id,
        "channel": "email",
        "address": f"{customer_id}@example.com",
        "status": status,
        "attempts": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }


@pytest.mark.parametrize(
    ("delivery", "once_per_customer", "already"),
    [
        (None, True, False),
        (ledger_row("c1", "sent"), True, True),
        (ledger_row("c1", "sending"), True, True),
        (ledger_row("c1", "unknown"), True, True),  # may have received it
        (ledger_row("c1", "failed"), True, False),
        (ledger_row("c1", "sent", message="other"), True, False),
        (ledger_row("c1", "sent", send_key="manual:m:now"), True, False),  # this very send
        (ledger_row("c1", "sent"), False, False),
    ],
)
def test_already_sent_is_read_from_the_ledger(store, engine, delivery, once_per_customer, already):
    store.customer("c1")
    if delivery is not None:
        with write_transaction(engine) as conn:
            conn.execute(insert(deliveries).values(delivery))
    spec = message_of(channel="email", subject="s", body="b", once_per_customer=once_per_customer)
    everyone = select(customers.c.id.label(ID))
    with read_transaction(engine) as conn:
        found = conn.execute(candidates_query(everyone, "m", spec, "manual:m:now", NOW)).one()
    assert bool(found.already_sent) is already


def test_candidates_come_in_customer_id_order(store, engine):
    for name in ("c3", "c10", "c1", "c2"):
        store.customer(name)
    spec = message_of(channel="email", subject="s", body="b")
    with read_transaction(engine) as conn:
        query = candidates_query(members_query(segments_of(), spec, NOW, TZ), "m", spec, "k", NOW)
        ids = [r.id for r in conn.execute(query)]
    assert ids == ["c1", "c10", "c2", "c3"]


def test_no_candidate_when_the_segment_is_empty(store, engine, tmp_path):
    spec = message_of(channel="sms", body="b")
    report = dry_run(engine, tmp_path, spec)
    assert (report.audience, report.sent, dict(report.skipped)) == (0, {"email": 0, "sms": 0}, {})
