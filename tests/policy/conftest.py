"""A small project for the sending policy: three customers in three zones (Denver, Berlin,
Sydney), every one reachable by email and SMS, and a CLI runner pinned to `--now`."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from passcli.cli.app import app
from passcli.importing.load import import_file
from passcli.store import read_transaction
from passcli.store.schema import deliveries
from passcli.timeutil import zone

CUSTOMERS = """\
id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
c1,ann@example.com,+13035550101,Ann,Denver,America/Denver,2026-01-01,true,true
c2,bert@example.com,+13035550102,Bert,Berlin,Europe/Berlin,2026-01-01,true,true
c3,sue@example.com,+13035550103,Sue,Sydney,Australia/Sydney,2026-01-01,true,true
"""
SEGMENTS = """\
segments:
  everyone:
    conditions:
      - attribute: {name: email, op: exists}
"""


@dataclass
class Shop:
    dir: Path
    engine: Engine
    runner: CliRunner

    def write(self, name: str, text: str) -> None:
        (self.dir / name).write_text(textwrap.dedent(text), encoding="utf-8")

    def invoke(self, *args: object, now: str) -> Any:
        return self.runner.invoke(
            app, [*(str(a) for a in args), "--project", str(self.dir), "--now", now]
        )

    def json(self, *args: object, now: str, code: int = 0) -> Any:
        result = self.invoke(*args, "--json", now=now)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        """Ledger rows, oldest first, filtered by column values."""
        query = select(deliveries).order_by(deliveries.c.id)
        for column, value in where.items():
            query = query.where(deliveries.c[column] == value)
        with read_transaction(self.engine) as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def sent_to(self, customer_id: str) -> list[str]:
        return [r["message"] for r in self.rows(customer_id=customer_id, status="sent")]


@pytest.fixture
def shop(
    project: Path,
    engine: Engine,
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Shop:
    monkeypatch.setenv("PASSCLI_TIMEZONE", "America/Denver")
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")
    report = import_file(
        engine,
        "customers",
        path,
        tz=zone("America/Denver"),
        region="US",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert report.rejected == 0
    (project / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    (project / "messages.yaml").write_text("messages: {}\n", encoding="utf-8")
    return Shop(project, engine, runner)
