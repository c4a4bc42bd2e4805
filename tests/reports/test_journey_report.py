"""`passcli report journey`: the seed 003 journey over simulated days, its funnel against
counts computed in plain SQL from journey_entries, journey_steps and the ledger."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

import passcli.templates
from passcli import sampledata

from .test_html import check_page

JOURNEYS = """\
journeys:
  loyalty-invite:
    title: Invite high-LTV customers to the SMS loyalty club
    entry:
      segment: high-ltv
      schedule: {every: 1 day, at: "12:00", local_time: true}
      re_entry: false
    exit_when: {event: {name: Order Refunded}}
    conversion: {event: {name: Session Started}, within: {days: 3}}
    steps:
      - send: loyalty-invite-email
      - wait_for:
          event: {name: SMS Keyword, where: [{property: keyword, op: equals, value: LOYALTY}]}
          within: {days: 7}
          on_timeout: end
      - delay: {seconds: 30}
      - send: loyalty-offer-sms
      - add_to_group: vip
"""
MESSAGES = """\
  loyalty-invite-email:
    segments: [high-ltv]
    channel: email
    subject: "{{ customerFirstName }}, join the Explorer loyalty club"
    body: "Text LOYALTY to join. Unsubscribe: {{ unsubscribeLink }}"
  loyalty-offer-sms:
    segments: [high-ltv]
    channel: sms
    body: "Welcome to the club, {{ customerFirstName }}! Opt out: {{ unsubscribeLink }}"
"""
END = "2026-11-30T13:00:00-07:00"
END_EPOCH = 1796068800  # 2026-11-30T20:00:00Z


@pytest.fixture
def journey(example_engine, project, runner, monkeypatch):
    from .conftest import Scenario

    monkeypatch.setenv("PASSCLI_TIMEZONE", sampledata.TIMEZONE)
    monkeypatch.setenv("PASSCLI_NOW", END)
    (project / "journeys.yaml").write_text(JOURNEYS, encoding="utf-8")
    with (project / "messages.yaml").open("a", encoding="utf-8") as f:
        f.write(MESSAGES)
    groups = project / "groups.yaml"
    if not groups.exists():  # the starter groups.yaml has the manual group vip
        template = Path(passcli.templates.__file__).parent / "groups.yaml"
        groups.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    s = Scenario(project, example_engine, runner)
    s.invoke("run-due", "--now", "2026-11-22T11:00:00-07:00")
    s.invoke("run-due", "--now", "2026-11-22T12:00:00-07:00")
    s.import_events(
        [
            {
                "type": "track",
                "userId": "c0000014",
                "event": "Session Started",
                "timestamp": "2026-11-23T16:00:00Z",
                "messageId": "conv-1",
            }
        ]
    )
    s.invoke("run-due", "--now", "2026-11-23T12:00:00-07:00")
    s.invoke("sms", "receive", "--from", "+13035550114", "--body", "LOYALTY", "--now",
             "2026-11-25T10:00:00-07:00")  # fmt: skip
    for at in ("2026-11-25T10:00:10-07:00", "2026-11-25T10:00:30-07:00"):
        s.invoke("run-due", "--now", at)
    # The offer's own link, used: an unsubscribe after step 4.
    (key,) = [r[0] for r in s.rows("SELECT send_key FROM deliveries WHERE kind = 'journey'"
                                   " AND channel = 'sms'")]  # fmt: skip
    body = json.loads(
        next((s.dir / "outbox" / "sms").glob(f"{key.replace(':', '_')}*.json")).read_text()
    )["body"]
    s.invoke("unsubscribe", re.search(r"\S*token=\S*", body).group(0), "--now", "2026-11-26T08:00")
    for at in ("2026-11-29T12:00:00-07:00", "2026-11-30T12:00:00-07:00"):
        s.invoke("run-due", "--now", at)
    return s


def test_the_funnel_matches_the_journey_tables_and_the_ledger(journey):
    s = journey
    document = json.loads(s.invoke("report", "journey", "loyalty-invite", "--json").stdout)
    (entered, customers, converted) = s.rows(
        "SELECT COUNT(*), COUNT(DISTINCT customer_id),"
        " SUM(CASE WHEN converted_at <= :now THEN 1 ELSE 0 END)"
        " FROM journey_entries WHERE journey = 'loyalty-invite' AND entered_at <= :now",
        now=END_EPOCH,
    )[0]
    assert (document["entered"], document["customers"], document["converted"]) == (
        entered,
        customers,
        converted,
    )
    ends = dict(
        s.rows(
            "SELECT end_reason, COUNT(*) FROM journey_entries WHERE journey = 'loyalty-invite'"
            " AND status <> 'active' GROUP BY end_reason"
        )
    )
    assert {**document["done"], **document["exited"]} == ends
    steps = {f["step"]: f for f in document["steps"]}
    assert list(steps) == ["1", "2", "3", "4", "5"]
    for step, outcome, count in s.rows(
        "SELECT step, outcome, COUNT(*) FROM journey_steps WHERE journey = 'loyalty-invite'"
        " GROUP BY step, outcome"
    ):
        f = steps[step]
        if outcome == "sent":
            assert sum(f["sent"].values()) == count
        elif outcome == "timed_out":
            assert f["timed_out"] == count
        elif outcome == "skipped":
            assert sum(f["skipped"].values()) == count
    for step, reached in s.rows(
        "SELECT step, COUNT(DISTINCT entry_id) FROM journey_steps"
        " WHERE journey = 'loyalty-invite' GROUP BY step"
    ):
        waiting = steps[step]["waiting"]
        assert steps[step]["reached"] == reached + waiting
    sent = dict(
        s.rows(
            "SELECT js.step, COUNT(*) FROM journey_steps js"
            " JOIN journey_entries je ON je.id = js.entry_id"
            " JOIN deliveries d ON d.send_key = js.send_key AND d.customer_id = je.customer_id"
            " WHERE js.journey = 'loyalty-invite' AND d.status = 'sent' GROUP BY js.step"
        )
    )
    assert {k: sum(f["sent"].values()) for k, f in steps.items() if f["kind"] == "send"} == sent
    # By hand: c0000014 texted LOYALTY, got the offer, converted, and used the offer's link.
    assert steps["4"]["sent"] == {"email": 0, "sms": 1}
    assert steps["4"]["unsubscribes"] == 1
    assert steps["1"]["unsubscribes"] == 0
    assert steps["2"]["timed_out"] >= 1
    assert document["converted"] == 1
    assert steps["5"]["converted"] == 1


def test_csv_and_html_hold_the_funnel(journey, tmp_path):
    result = journey.invoke("report", "journey", "loyalty-invite", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert rows[3]["message"] == "loyalty-offer-sms"
    assert rows[3]["sent_sms"] == "1"
    path = tmp_path / "journey.html"
    journey.invoke("report", "journey", "loyalty-invite", "--html", path)
    page = path.read_text(encoding="utf-8")
    check_page(page)
    assert "<title>4 send (loyalty-offer-sms): 1</title>" in page
    assert page.count("<svg") == 2


def test_an_unknown_journey_is_bad_usage(journey):
    result = journey.invoke("report", "journey", "loyalty", ok=False)
    assert result.exit_code == 2
    assert "unknown journey 'loyalty'" in result.stderr
