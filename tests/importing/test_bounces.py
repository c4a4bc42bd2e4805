"""`passcli import bounces FILE`: hard bounces and complaints make every customer with the
email unreachable by email (consent source `bounce`, which no later import undoes, and a
skip reason `bounced`); soft bounces are counted only; unknown emails are listed, not
rejected; bad rows are FILE:LINE: reason, exit 1."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from passcli.cli.app import app
from passcli.store import read_transaction
from passcli.store.schema import consent_changes, customers

NOW = "2026-11-22T10:00:00-07:00"

CUSTOMERS_CSV = """\
id,email,phone,first_name
c1,ada@example.com,,Ada
c2,grace@example.com,,Grace
c3,ADA@example.com,,Ada2
c4,cy@example.com,,Cy
c5,dee@example.com,,Dee
"""

BOUNCES_CSV = """\
email,type,at,reason
Ada@Example.com,hard,2026-11-20T08:00:00Z,550 5.1.1 user unknown
grace@example.com,soft,2026-11-20T08:00:00Z,452 mailbox full
cy@example.com,complaint,2026-11-21T09:30:00Z,
nobody@example.com,hard,2026-11-21T09:30:00Z,550 no such user
"""

SEGMENTS_YAML = """\
segments:
  everyone:
    conditions:
      - attribute: {name: id, op: exists}
"""

MESSAGES_YAML = """\
messages:
  hello:
    segments: [everyone]
    channel: email
    subject: Hello
    body: "Hi {{ customerFirstName }}"
"""


def invoke(runner, project: Path, *args: object):
    return runner.invoke(app, [*(str(a) for a in args), "--project", str(project), "--now", NOW])


def run_json(runner, project: Path, *args: object, code: int = 0):
    result = invoke(runner, project, *args, "--json")
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def shop(runner, project: Path) -> Path:
    """A project with five customers (c1 and c3 share an email) and an email message."""
    (project / "segments.yaml").write_text(SEGMENTS_YAML, encoding="utf-8")
    (project / "messages.yaml").write_text(MESSAGES_YAML, encoding="utf-8")
    (project / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (project / "bounces.csv").write_text(BOUNCES_CSV, encoding="utf-8")
    run_json(runner, project, "import", "customers", project / "customers.csv")
    return project


def email_consent(engine) -> dict[str, tuple[bool, str | None]]:
    c = customers.c
    with read_transaction(engine) as conn:
        rows = conn.execute(select(c.id, c.email_opt_in, c.email_consent_source).order_by(c.id))
        return {row.id: (row.email_opt_in, row.email_consent_source) for row in rows}


def changes(engine) -> list[tuple]:
    k = consent_changes.c
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(k.customer_id, k.channel, k.opted_in, k.source, k.at, k.detail).order_by(
                k.customer_id, k.id
            )
        )
        return [tuple(row) for row in rows]


def test_hard_bounces_and_complaints_make_every_holder_of_the_email_unreachable(
    runner, shop, engine
):
    report = run_json(runner, shop, "import", "bounces", shop / "bounces.csv")

    assert report["rejected"] == 0
    assert report["bounces"] == {
        "hard": 2,
        "soft": 1,
        "complaint": 1,
        "unreachable": 3,
        "no_customer": 1,
    }
    assert report["unmatched"] == [{"line": 5, "email": "nobody@example.com"}]
    assert (report["updated"], report["skipped"]) == (2, 2)
    assert email_consent(engine) == {
        "c1": (False, "bounce"),
        "c2": (True, None),  # a soft bounce changes nothing
        "c3": (False, "bounce"),  # the same email, written in capitals
        "c4": (False, "bounce"),
        "c5": (True, None),
    }
    found = changes(engine)
    assert [(c, ch, opted, src, detail) for c, ch, opted, src, _, detail in found] == [
        ("c1", "email", False, "bounce", "550 5.1.1 user unknown"),
        ("c3", "email", False, "bounce", "550 5.1.1 user unknown"),
        ("c4", "email", False, "complaint", "complaint"),
    ]
    assert [at.isoformat() for *_, at, _ in found] == [
        "2026-11-20T08:00:00+00:00",
        "2026-11-20T08:00:00+00:00",
        "2026-11-21T09:30:00+00:00",
    ]


def test_importing_the_same_bounces_twice_changes_nothing(runner, shop, engine):
    run_json(runner, shop, "import", "bounces", shop / "bounces.csv")
    before = (email_consent(engine), changes(engine))

    again = run_json(runner, shop, "import", "bounces", shop / "bounces.csv")

    assert (again["updated"], again["skipped"]) == (0, 4)
    assert again["bounces"]["unreachable"] == 0
    assert (email_consent(engine), changes(engine)) == before


def test_a_later_customers_import_does_not_undo_a_bounce(runner, shop, engine):
    run_json(runner, shop, "import", "bounces", shop / "bounces.csv")
    later = shop / "later.csv"
    later.write_text(
        "id,email,email_opt_in\nc1,ada@example.com,true\nc4,cy@example.com,true\n",
        encoding="utf-8",
    )
    run_json(runner, shop, "import", "customers", later)
    identify = shop / "identify.jsonl"
    identify.write_text(
        '{"type":"identify","userId":"c3","traits":{"emailOptIn":true}}\n', encoding="utf-8"
    )
    run_json(runner, shop, "import", "events", identify)

    consent = email_consent(engine)
    assert [consent[c] for c in ("c1", "c3", "c4")] == [(False, "bounce")] * 3


def test_a_dry_run_skips_bounced_customers_with_reason_bounced(runner, shop):
    run_json(runner, shop, "import", "bounces", shop / "bounces.csv")

    document = run_json(runner, shop, "send", "hello", "--dry-run")

    assert document["skipped"] == {"bounced": 3}
    assert sorted(r["customer_id"] for r in document["recipients"]) == ["c2", "c5"]
    assert document["audience"] == 5


def test_bad_rows_are_reported_with_their_lines_and_the_others_load(runner, shop, engine):
    bad = shop / "bad.csv"
    bad.write_text(
        textwrap.dedent(
            """\
            email,type,at,reason
            ada@example.com,hard,,gone
            not-an-email,hard,,
            cy@example.com,bounced,,
            ,soft,,
            dee@example.com,complaint,yesterday,
            """
        ),
        encoding="utf-8",
    )

    result = invoke(runner, shop, "import", "bounces", bad)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[:4] == [
        "bad.csv:3: invalid email address 'not-an-email'",
        "bad.csv:4: type must be one of hard, soft, complaint, not 'bounced'",
        "bad.csv:5: email is required",
        "bad.csv:6: at is not an ISO-8601 timestamp: 'yesterday'",
    ]
    assert result.stderr.splitlines()[4].startswith("bad.csv: 0 inserted, 1 updated, 0 skipped")
    consent = email_consent(engine)
    assert consent["c1"] == (False, "bounce")  # a blank `at` is the import's time
    assert consent["c4"] == consent["c5"] == (True, None)
    [(*_, at, detail)] = [c for c in changes(engine) if c[0] == "c1"]
    assert (at.isoformat(), detail) == ("2026-11-22T17:00:00+00:00", "gone")


def test_strict_loads_nothing_when_a_row_is_bad(runner, shop, engine):
    bad = shop / "bad.csv"
    bad.write_text("email,type\nada@example.com,hard\ncy@example.com,oops\n", encoding="utf-8")

    report = run_json(runner, shop, "import", "bounces", bad, "--strict", code=1)

    assert (report["loaded"], report["rejected"]) == (False, 1)
    assert email_consent(engine)["c1"] == (True, None)
    assert changes(engine) == []


def test_unknown_emails_are_listed_on_stderr_not_rejected(runner, shop):
    result = invoke(runner, shop, "import", "bounces", shop / "bounces.csv")

    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "bounces.csv:5: no customer has the email nobody@example.com: nothing changed" in lines
    assert lines[-1] == (
        "bounces.csv: 0 inserted, 2 updated, 2 skipped, 0 rejected; hard 2, soft 1, complaint 1; "
        "3 customers now unreachable by email; 1 emails match no customer"
    )


def test_a_bounces_file_with_another_header_is_bad_usage(runner, shop):
    wrong = shop / "wrong.csv"
    wrong.write_text("address,kind\nada@example.com,hard\n", encoding="utf-8")

    result = invoke(runner, shop, "import", "bounces", wrong)

    assert result.exit_code == 2
    assert "is not a bounces CSV file" in result.stderr
