"""Safety of journeys under run-due (SPEC §6, §7): a run killed in the middle of a journey's
send, and four run-due processes at once.

Real `python -m passcli run-due` processes over one store (the test's SQLite file or
PostgreSQL schema), email over SMTP to an aiosmtpd server, SMS to a stand-in for Twilio's
Messages API on 127.0.0.1 that can hold a request unanswered: what each server received is
what a customer would have received.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from sqlalchemy import Engine, insert, select, update

from passcli.store import read_transaction
from passcli.store.schema import customers, deliveries, journey_entries, journey_steps, runs
from scheduling.conftest import SECRET, Inbox, customer, inbox  # noqa: F401 (a fixture)

SID = "AC00000000000000000000000000000000"
NOW = "2026-11-22T09:00:00-07:00"
EVERYONE = {"everyone": {"conditions": [{"attribute": {"name": "id", "op": "exists"}}]}}
MESSAGES = {
    "hello-sms": {
        "segments": ["everyone"],
        "channel": "sms",
        "body": "Hi {{ customerFirstName }}, welcome to the club",
    },
    "hello-email": {
        "segments": ["everyone"],
        "channel": "email",
        "subject": "Hello {{ customerFirstName }}",
        "body": "Hi {{ customerFirstName }}, see {{ dashboardUrl }}",
    },
}


@dataclass
class Texts:
    """A stand-in for Twilio's Messages API: keeps each text it answered.

    With `hold` set to a phone number, the first text to it is not answered until the test
    sets `release` (the server keeps serving other requests meanwhile)."""

    received: list[tuple[str, str]] = field(default_factory=list)  # (to, body)
    hold: str | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def count(self) -> Counter[str]:
        with self.lock:
            return Counter(to for to, _ in self.received)


@pytest.fixture
def texts() -> Any:
    found = Texts()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers["Content-Length"])
            form = parse_qs(self.rfile.read(length).decode())
            to, body = form["To"][0], form["Body"][0]
            if to == found.hold and not found.holding.is_set():
                found.holding.set()
                found.release.wait(60)  # the client is gone by then
            else:
                with found.lock:
                    found.received.append((to, body))
            answer = json.dumps({"sid": f"SM{len(found.received):032d}"}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.release.set()
    server.shutdown()
    server.server_close()


@dataclass
class Site:
    """A project with one journey over the test's store, for `python -m passcli` processes."""

    directory: Path
    url: str
    engine: Engine
    smtp_port: int
    sms_port: int

    def write(self, steps: list[Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        files = {
            "segments.yaml": {"segments": EVERYONE},
            "messages.yaml": {"messages": MESSAGES},
            "journeys.yaml": {"journeys": {"club": {"entry": {"segment": "everyone"},
                                                    "steps": steps}}},
        }  # fmt: skip
        for name, content in files.items():
            text = yaml.safe_dump(content, sort_keys=False)
            (self.directory / name).write_text(text, encoding="utf-8")
        (self.directory / ".env").write_text(f"PASSCLI_SECRET_KEY={SECRET}\n", encoding="utf-8")

    def env(self, now: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSCLI_")}
        env.update(
            PASSCLI_PROJECT_DIR=str(self.directory),
            PASSCLI_DATABASE_URL=self.url,
            PASSCLI_TIMEZONE="America/Denver",
            PASSCLI_NOW=now,
            PASSCLI_EMAIL_TRANSPORT="smtp",
            PASSCLI_SMTP_HOST="127.0.0.1",
            PASSCLI_SMTP_PORT=str(self.smtp_port),
            PASSCLI_EMAIL_FROM="news@passes.example",
            PASSCLI_SMS_TRANSPORT="twilio",
            PASSCLI_TWILIO_ACCOUNT_SID=SID,
            PASSCLI_TWILIO_AUTH_TOKEN="test-token",
            PASSCLI_TWILIO_FROM="+13035550000",
            PASSCLI_TWILIO_API_BASE=f"http://127.0.0.1:{self.sms_port}",
        )
        return env

    def start(self, now: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "passcli", *args],
            cwd=self.directory,
            env=self.env(now),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run_due(self, now: str) -> dict[str, Any]:
        process = self.start(now, "run-due", "--json")
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        return json.loads(stdout)  # type: ignore[no-any-return]

    def rows(self, table: Any) -> list[dict[str, Any]]:
        with read_transaction(self.engine) as conn:
            return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]


def phone(n: int) -> str:
    return f"+1303555{n:04d}"


@pytest.fixture
def site(tmp_path: Path, inbox: Inbox, texts: Texts, database_url: str, engine: Engine) -> Site:  # noqa: F811
    return Site(tmp_path / "project", database_url, engine, inbox.port, texts.port)


def add_customers(site: Site, count: int) -> list[str]:
    ids = [f"c{n:03d}" for n in range(1, count + 1)]
    with site.engine.begin() as conn:
        conn.execute(
            insert(customers),
            [customer(cid, phone=phone(n), sms_opt_in=True) for n, cid in enumerate(ids, 1)],
        )
    return ids


@pytest.mark.slow
def test_a_run_killed_during_a_journey_text_never_sends_it_again(site: Site, texts: Texts) -> None:
    site.write([{"send": "hello-sms"}, {"delay": {"hours": 1}}, {"send": "hello-email"}])
    add_customers(site, 3)
    texts.hold = phone(1)
    process = site.start(NOW, "run-due")
    try:
        assert texts.holding.wait(60), "the run never reached the SMS server"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    texts.release.set()
    # A lease expires a minute after its last renewal: age the dead run's heartbeat instead
    # of waiting (what a minute of silence would leave in the store).
    with site.engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.finished_at.is_(None))
            .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
        )

    after = site.run_due("2026-11-22T09:01:00-07:00")

    (club,) = after["journeys"]
    assert club["entered"] == 0  # they entered in the killed run
    assert texts.count() == {phone(2): 1, phone(3): 1}  # c001's text was in flight: not again
    ledger = {(d["customer_id"], d["channel"]): d["status"] for d in site.rows(deliveries)}
    assert ledger == {("c001", "sms"): "unknown", ("c002", "sms"): "sent", ("c003", "sms"): "sent"}
    steps = Counter((s["step"], s["outcome"]) for s in site.rows(journey_steps))
    assert steps == {("1", "unknown"): 1, ("1", "sent"): 2}
    # An hour later each goes on to the email, c001 too; the text is still never repeated.
    site.run_due("2026-11-22T10:01:00-07:00")
    site.run_due("2026-11-22T10:02:00-07:00")
    assert texts.count() == {phone(2): 1, phone(3): 1}
    emails = Counter(
        (d["customer_id"], d["status"]) for d in site.rows(deliveries) if d["channel"] == "email"
    )
    assert emails == {("c001", "sent"): 1, ("c002", "sent"): 1, ("c003", "sent"): 1}
    assert [e["status"] for e in site.rows(journey_entries)] == ["done"] * 3


@pytest.mark.slow
def test_four_run_dues_at_once_double_nothing_in_a_journey(
    site: Site,
    inbox: Inbox,  # noqa: F811
    texts: Texts,
) -> None:
    site.write([{"send": "hello-sms"}, {"send": "hello-email"}, {"delay": {"minutes": 5}},
                {"send": "hello-email", "id": "again"}])  # fmt: skip
    ids = add_customers(site, 60)
    documents = []
    for now in (NOW, "2026-11-22T09:06:00-07:00"):
        processes = [site.start(now, "run-due", "--json") for _ in range(4)]
        outputs = [p.communicate(timeout=180) for p in processes]
        assert [p.returncode for p in processes] == [0] * 4, [err for _, err in outputs]
        documents += [json.loads(out)["journeys"][0] for out, _ in outputs]

    assert sum(d["entered"] for d in documents) == len(ids)
    assert sum(d["sent"] for d in documents) == 3 * len(ids)
    assert texts.count() == {phone(n): 1 for n in range(1, len(ids) + 1)}
    assert sorted(inbox.count().values()) == [2] * len(ids)  # two emails each, each once
    assert len(inbox.accepted) == 2 * len(ids)
    entries = site.rows(journey_entries)
    assert sorted(e["customer_id"] for e in entries) == ids
    assert {(e["status"], e["run_id"]) for e in entries} == {("done", None)}
    steps = Counter((s["entry_id"], s["step"]) for s in site.rows(journey_steps))
    assert set(steps.values()) == {1} and len(steps) == 4 * len(ids)
    ledger = Counter((d["send_key"], d["recipient"]) for d in site.rows(deliveries))
    assert len(ledger) == 3 * len(ids) and set(ledger.values()) == {1}
    assert {d["status"] for d in site.rows(deliveries)} == {"sent"}
