"""Imports record the opt-ins they change on existing customers, so consent has a history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from passcli.importing.load import import_file
from passcli.store.schema import consent_changes, customers

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HEADER = "id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in\n"


def load(engine, tmp_path: Path, name: str, text: str, now: datetime) -> None:
    path = tmp_path / name
    path.write_text(HEADER + text, encoding="utf-8")
    report = import_file(engine, "customers", path, tz=UTC, region="US", now=now)
    assert report.rejected == 0, report.rejections


def history(engine) -> list[tuple]:
    k = consent_changes.c
    with engine.connect() as conn:
        query = select(k.customer_id, k.channel, k.opted_in, k.source, k.at, k.detail)
        return [tuple(row) for row in conn.execute(query.order_by(k.id))]


def test_a_new_customer_adds_no_change_and_a_changed_opt_in_adds_one(engine, tmp_path):
    load(engine, tmp_path, "first.csv", "c1,a@example.com,+13035550101,A,B,,,true,false\n", NOW)
    assert history(engine) == []

    load(engine, tmp_path, "second.csv", "c1,a@example.com,+13035550101,A,B,,,false,true\n", LATER)

    assert history(engine) == [
        ("c1", "email", False, "import", LATER, "second.csv"),
        ("c1", "sms", True, "import", LATER, "second.csv"),
    ]


def test_the_same_file_twice_records_nothing_more(engine, tmp_path):
    load(engine, tmp_path, "one.csv", "c1,a@example.com,,A,B,,,true,false\n", NOW)
    load(engine, tmp_path, "one.csv", "c1,a@example.com,,A,B,,,false,false\n", NOW)
    load(engine, tmp_path, "one.csv", "c1,a@example.com,,A,B,,,false,false\n", LATER)

    assert [row[:4] for row in history(engine)] == [("c1", "email", False, "import")]


def test_a_person_s_opt_out_is_neither_overridden_nor_recorded_again(engine, tmp_path):
    load(engine, tmp_path, "one.csv", "c1,a@example.com,,A,B,,,true,false\n", NOW)
    with engine.begin() as conn:
        conn.execute(
            customers.update()
            .where(customers.c.id == "c1")
            .values(email_opt_in=False, email_consent_source="person")
        )

    load(engine, tmp_path, "two.csv", "c1,a@example.com,,A,B,,,true,false\n", LATER)

    assert history(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(customers.c.email_opt_in)).scalar_one() is False
