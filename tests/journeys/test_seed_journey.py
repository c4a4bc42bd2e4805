"""The seed 003 journey end to end on the example project, over simulated days (SPEC §7).

Entry is daily at noon in each customer's zone; the invite email goes out at entry; a
customer who texts LOYALTY on day 3 gets the SMS offer 30 s later (the run-due at +30 s),
and joins vip; one who never texts times out after 7 days; nobody enters twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from passcli.cli.app import app
from passcli.store.schema import deliveries, journey_entries, journey_steps

from .seed import JOURNEYS, MESSAGES

TEXTER = "c0000014"  # Denver, high-ltv, with a phone
SILENT = "c0000015"  # Denver, high-ltv, never texts
PHONE = "+13035550114"


def cli(runner, *args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def store_url(tmp_path: Path, backend, database_url) -> str:
    """The demo's store: its own SQLite file, or the test's PostgreSQL schema."""
    return (
        database_url if backend == "postgresql" else f"sqlite:///{tmp_path / 'demo' / 'passcli.db'}"
    )


@pytest.fixture
def demo(runner, tmp_path: Path, backend, store_url, monkeypatch) -> Path:
    """The demo project with the seed journey; on PostgreSQL its store copied there."""
    directory = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(directory)])
    assert result.exit_code == 0, result.stderr
    (directory / "journeys.yaml").write_text(JOURNEYS, encoding="utf-8")
    with (directory / "messages.yaml").open("a", encoding="utf-8") as f:
        f.write(MESSAGES)
    if backend == "postgresql":
        copied = runner.invoke(app, ["db", "copy", "--to", store_url, "--project", str(directory)])
        assert copied.exit_code == 0, copied.stderr
        monkeypatch.setenv("PASSCLI_DATABASE_URL", store_url)
    return directory


def run_due(runner, project: Path, now: str) -> dict:
    document = cli(runner, "run-due", "--project", str(project), "--now", now)
    (journey,) = document["journeys"]
    return journey


def test_the_seed_journey_runs_as_written(runner, demo, store_url):
    p = str(demo)
    # First sight at 11:00 Denver time: no catch-up of earlier slots.
    assert run_due(runner, demo, "2026-11-22T11:00:00-07:00")["entered"] == 0
    noon = run_due(runner, demo, "2026-11-22T12:00:00-07:00")
    assert noon["entered"] >= 2 and noon["sent"] >= 2
    # A Session Started on day 2: a conversion within the 3 days after entry.
    events = demo / "session.jsonl"
    events.write_text(
        json.dumps(
            {
                "type": "track",
                "userId": TEXTER,
                "event": "Session Started",
                "properties": {"platform": "ios"},
                "timestamp": "2026-11-23T16:00:00Z",
                "messageId": "conv-1",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    cli(runner, "import", "events", str(events), "--project", p)
    run_due(runner, demo, "2026-11-23T12:00:00-07:00")
    # Day 3: the texter texts LOYALTY; the offer waits 30 s.
    cli(
        runner,
        "sms", "receive", "--from", PHONE, "--body", "LOYALTY",
        "--project", p, "--now", "2026-11-25T10:00:00-07:00",
    )  # fmt: skip
    early = run_due(runner, demo, "2026-11-25T10:00:10-07:00")
    assert early["sent"] == 0
    late = run_due(runner, demo, "2026-11-25T10:00:30-07:00")
    assert late["sent"] == 1
    # Day 8 after entry: the silent customer times out; day 9 nobody re-enters.
    run_due(runner, demo, "2026-11-29T12:00:00-07:00")
    run_due(runner, demo, "2026-11-30T12:00:00-07:00")

    engine = create_engine(store_url)
    with engine.connect() as conn:
        entries = {
            r.customer_id: r
            for r in conn.execute(
                select(journey_entries).where(journey_entries.c.customer_id.in_([TEXTER, SILENT]))
            )
        }
        sends = conn.execute(
            select(deliveries.c.send_key, deliveries.c.channel, deliveries.c.status).where(
                deliveries.c.recipient == TEXTER, deliveries.c.kind == "journey"
            )
        ).all()
        steps = conn.execute(
            select(journey_steps.c.step, journey_steps.c.outcome).where(
                journey_steps.c.entry_id == entries[SILENT].id
            )
        ).all()
        per_customer = conn.execute(
            select(journey_entries.c.customer_id).group_by(journey_entries.c.customer_id)
        ).all()
        total = conn.execute(select(journey_entries.c.id)).all()
    engine.dispose()
    texter = entries[TEXTER]
    assert (texter.status, texter.end_reason) == ("done", "completed")
    assert texter.converted_at is not None
    assert sorted(sends) == [
        ("journey:loyalty-invite:1:1", "email", "sent"),
        ("journey:loyalty-invite:4:1", "sms", "sent"),
    ]
    silent = entries[SILENT]
    assert (silent.status, silent.end_reason) == ("done", "timed_out")
    assert sorted(steps) == [("1", "sent"), ("2", "timed_out")]
    assert len(per_customer) == len(total)  # one entry each: no re-entry

    shown = cli(runner, "journey", "show", "loyalty-invite", "--project", p)
    by_step = {s["step"]: s for s in shown["steps"]}
    assert by_step["4"]["sent"] == 1
    assert by_step["2"]["timed_out"] >= 1
    assert shown["converted"] >= 1


def test_a_send_step_reaches_only_its_message_s_subscription_group(runner, demo, store_url):
    """loyalty-offer-sms is for the loyalty group: a customer who reaches that step
    without having joined skips it as not_subscribed, and gets nothing."""
    (demo / "journeys.yaml").write_text(
        JOURNEYS.replace("      - send: loyalty-invite-email\n", "")
        .replace(
            "      - wait_for:\n"
            "          event: {name: SMS Keyword, where: "
            "[{property: keyword, op: equals, value: LOYALTY}]}\n"
            "          within: {days: 7}\n"
            "          on_timeout: end\n",
            "",
        )
        .replace("      - delay: {seconds: 30}\n", ""),
        encoding="utf-8",
    )
    cli(
        runner,
        "sms", "receive", "--from", PHONE, "--body", "LOYALTY",
        "--project", str(demo), "--now", "2026-11-22T11:30:00-07:00",
    )  # fmt: skip
    run_due(runner, demo, "2026-11-22T11:00:00-07:00")
    noon = run_due(runner, demo, "2026-11-22T12:00:00-07:00")

    assert noon["entered"] >= 2
    engine = create_engine(store_url)
    with engine.connect() as conn:
        sent = {
            row.customer_id
            for row in conn.execute(
                select(deliveries.c.customer_id).where(deliveries.c.kind == "journey")
            )
        }
        skipped = dict(
            conn.execute(
                select(journey_entries.c.customer_id, journey_steps.c.reason)
                .join(journey_steps, journey_steps.c.entry_id == journey_entries.c.id)
                .where(journey_steps.c.outcome == "skipped")
            ).all()
        )
    engine.dispose()
    assert sent == {TEXTER}
    assert skipped[SILENT] == "not_subscribed"
    assert TEXTER not in skipped
