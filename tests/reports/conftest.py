"""The example project with conversions defined, sends made with --now, events imported
after them, and unsubscribes by link and by STOP: the ledger the report tests read."""

from __future__ import annotations

import email
import json
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from passcli import sampledata
from passcli.cli.app import app

SEND_1 = "2026-11-22T10:00:00-07:00"  # 17:00Z, the examples' reference instant
SEND_2 = "2026-11-25T10:00:00-07:00"  # three days later: a second occurrence
REPORT_AT = "2026-12-02T10:00:00-07:00"

CONVERSIONS = {
    # a text, converting on any order within 3 days
    "start-checking-in": "    conversion: {event: {name: Order Completed}, within: {days: 3}}\n",
    # an email, converting on an order over 50 within 2 days
    "expiration-reminder": (
        "    conversion:\n"
        "      event:\n"
        "        name: Order Completed\n"
        "        where: [{property: revenue, op: greater_than, value: 50}]\n"
        "      within: {days: 2}\n"
    ),
}


@dataclass
class Scenario:
    dir: Path
    engine: Engine
    runner: Any

    def invoke(self, *args: object, ok: bool = True) -> Any:
        result = self.runner.invoke(app, [*(str(a) for a in args), "--project", str(self.dir)])
        if ok:
            assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    def recipients(self, message: str, channel: str) -> list[tuple[str, str, str]]:
        """(customer_id, address, send_key) of the message's sent deliveries, in id order."""
        return [
            (r[0], r[1], r[2])
            for r in self.rows(
                "SELECT customer_id, address, send_key FROM deliveries"
                " WHERE message = :m AND channel = :c AND status = 'sent'"
                " ORDER BY send_key, customer_id",
                m=message,
                c=channel,
            )
        ]

    def sms_link(self, customer_id: str, send_key: str) -> str:
        """The unsubscribe link in the text the outbox holds for this delivery."""
        stamp = send_key.split(":", 2)[2].replace(":", "_")
        name = f"{send_key.split(':')[0]}_{send_key.split(':')[1]}_{stamp}-{customer_id}.json"
        body = json.loads((self.dir / "outbox" / "sms" / name).read_text())["body"]
        return next(word for word in body.split() if "token=" in word)

    def email_link(self, address: str) -> str:
        for path in sorted((self.dir / "outbox" / "email").glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if msg["To"] == address:
                return str(msg["List-Unsubscribe"]).strip("<>")
        raise AssertionError(f"no email to {address}")

    def import_events(self, events: list[dict[str, Any]]) -> None:
        path = self.dir / "conversion-events.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        self.invoke("import", "events", path)


def order(customer_id: str, at: str, revenue: float, number: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": customer_id,
        "event": "Order Completed",
        "properties": {"revenue": revenue},
        "timestamp": at,
        "messageId": f"conv-{number}",
    }


@pytest.fixture
def scenario(example_engine, project, runner, monkeypatch) -> Scenario:
    """Two occurrences each of a text and an email message, with conversion: defined."""
    monkeypatch.setenv("PASSCLI_TIMEZONE", sampledata.TIMEZONE)
    monkeypatch.setenv("PASSCLI_NOW", REPORT_AT)
    messages = project / "messages.yaml"
    lines = messages.read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    for line in lines:
        out.append(line)
        name = line.strip().rstrip(":")
        if line.startswith("  ") and not line.startswith("   ") and name in CONVERSIONS:
            out.append(CONVERSIONS[name])
    messages.write_text("".join(out), encoding="utf-8")
    found = Scenario(project, example_engine, runner)
    for at in (SEND_1, SEND_2):
        found.invoke("send", "start-checking-in", "--yes", "--now", at)
        found.invoke("send", "expiration-reminder", "--yes", "--now", at)
    return found
