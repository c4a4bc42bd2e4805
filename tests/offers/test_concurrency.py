"""Redeem is atomic: ten processes redeeming an offer with 3 uses left at once record
exactly 3 uses and refuse 7 (exit 1), on SQLite and on PostgreSQL; and on PostgreSQL, a
redeem waiting on another transaction's lock on the customer counts that transaction's uses.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from passcli.errors import OfferRefused
from passcli.offers.usage import redeem_offer
from passcli.store import write_transaction
from passcli.store.schema import customers, offer_uses
from passcli.timeutil import zone

from .conftest import Shop, groups_file

pytestmark = pytest.mark.slow

TZ = "America/Denver"
NOW = "2026-11-22T10:00:00"
PROCESSES = 10
GROUPS_YAML = """\
groups:
  members:
    kind: membership
    items: [annual-membership]
offers:
  member-free-entry:
    title: Members' exclusive ticket
    groups: [members]
    attendees: {max: 4}
    usage_limit: {uses: 5, per: month}
"""
REFUSAL = (
    "error: customer 'c1' has used all 5 uses of offer 'member-free-entry' this month (2026-11)"
)


@pytest.fixture
def site(tmp_path: Path, database_url: str, shop: Shop) -> dict[str, str]:
    """A project over the test's store in which c1, a member, has 3 of 5 uses left this
    month; the environment for passcli processes working on it."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "groups.yaml").write_text(GROUPS_YAML, encoding="utf-8")
    (directory / "segments.yaml").write_text("segments: {}\n", encoding="utf-8")
    (directory / "messages.yaml").write_text("messages: {}\n", encoding="utf-8")
    shop.customer("c1")
    shop.purchase("c1")
    shop.use("member-free-entry", "c1", datetime.fromisoformat(NOW).replace(tzinfo=zone(TZ)), 2)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSCLI_")},
        "PASSCLI_PROJECT_DIR": str(directory),
        "PASSCLI_DATABASE_URL": database_url,
        "PASSCLI_TIMEZONE": TZ,
        "PASSCLI_NOW": NOW,
    }


def redeem_after_barrier(barrier: Any, results: Any, env: dict[str, str]) -> None:
    """In a child process: load passcli, wait for every sibling, then run `passcli offer
    redeem` through the CLI and report its exit code and output."""
    os.environ.clear()
    os.environ.update(env)
    from typer.testing import CliRunner

    import passcli.cli.offer  # noqa: F401  (imported before the barrier, not after)
    import passcli.offers.usage  # noqa: F401
    from passcli.cli.app import app

    runner = CliRunner()
    barrier.wait(timeout=120)
    result = runner.invoke(app, ["offer", "redeem", "member-free-entry", "--customer", "c1"])
    results.put((result.exit_code, result.stdout, result.stderr))


def assert_three_redeemed_and_seven_refused(
    outcomes: list[tuple[int, str, str]], shop: Shop
) -> None:
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0] * 3 + [1] * 7, outcomes
    refusals = [stderr.strip() for code, _, stderr in outcomes if code == 1]
    assert refusals == [REFUSAL] * 7
    assert [stdout for code, stdout, _ in outcomes if code == 1] == [""] * 7
    uses = shop.uses("member-free-entry")
    assert len(uses) == 1 + 3  # the two-attendee use before, and exactly three more
    assert sum(attendees for _, _, attendees, _ in uses) == 5


def test_ten_processes_released_at_once_record_exactly_the_three_uses_left(site, shop):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [
        context.Process(target=redeem_after_barrier, args=(barrier, results, site))
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=180) for _ in children]
    finally:
        for child in children:
            child.join(timeout=60)
            if child.is_alive():  # never leave a process behind a failure
                child.kill()
    assert [child.exitcode for child in children] == [0] * PROCESSES

    assert_three_redeemed_and_seven_refused(outcomes, shop)


def test_ten_python_m_passcli_redeems_at_once_record_exactly_three_and_refuse_seven(site, shop):
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "passcli", "offer", "redeem", "member-free-entry"]
            + ["--customer", "c1", "--json"],
            env=site,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        outputs = [p.communicate(timeout=180) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    outcomes = [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)]

    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0] * 3 + [1] * 7, outcomes
    assert sorted(err.strip() for code, _, err in outcomes if code == 1) == [REFUSAL] * 7
    documents = [json.loads(out) for _, out, _ in outcomes]
    redeemed = sorted(d["remaining"] for d in documents if d["redeemed"])
    assert redeemed == [0, 1, 2]  # each saw the uses of those before it
    assert {(d["reason"], d["remaining"]) for d in documents if not d["redeemed"]} == {
        ("limit_reached", 0)
    }
    uses = shop.uses("member-free-entry")
    assert sum(attendees for _, _, attendees, _ in uses) == 5


def test_a_postgresql_redeem_waiting_on_the_customers_lock_counts_the_holders_uses(
    backend: str, engine: Engine, shop: Shop
):
    """The protocol step by step: another transaction locks c1 and records the last uses; a
    redeem started meanwhile waits on the lock, then (READ COMMITTED) counts those uses."""
    if backend != "postgresql":
        pytest.skip("SQLite writers take turns at BEGIN IMMEDIATE; the process tests cover it")
    shop.customer("c1")
    groups = groups_file({"o": {"usage_limit": {"uses": 1, "per": "ever"}}})
    now = datetime.fromisoformat(NOW).replace(tzinfo=zone(TZ))
    outcome: list[Any] = []

    def redeem() -> None:
        try:
            outcome.append(redeem_offer(engine, groups, "o", "c1", now, zone(TZ)))
        except OfferRefused as exc:
            outcome.append(exc)

    with write_transaction(engine) as holder:
        holder.execute(select(customers.c.id).where(customers.c.id == "c1").with_for_update())
        holder.execute(
            offer_uses.insert().values(offer="o", customer_id="c1", attendees=1, used_at=now)
        )
        waiter = threading.Thread(target=redeem)
        waiter.start()
        wait_until_a_backend_waits_on_a_lock(engine)
    waiter.join(timeout=60)

    assert len(outcome) == 1 and isinstance(outcome[0], OfferRefused), outcome
    assert outcome[0].check.reason == "limit_reached"
    assert len(shop.uses("o")) == 1


def wait_until_a_backend_waits_on_a_lock(engine: Engine) -> None:
    """Until pg_stat_activity shows a session of this database waiting on a lock (the
    redeem, blocked on the customer's row). Each look is its own transaction: within one,
    PostgreSQL keeps showing the activity it saw first."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database() AND query LIKE '%FOR NO KEY UPDATE%'"
    )
    blocked = threading.Event()
    for _ in range(600):
        with engine.connect() as probe:
            if probe.execute(query).scalar_one() > 0:
                return
        blocked.wait(0.05)  # poll the server, at most 30 s
    raise AssertionError("the redeem never waited on the customer's lock")
