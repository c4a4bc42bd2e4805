"""`passcli customer show ID`: the JSON shape, the human view, and unknown ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from passcli.cli.app import app
from passcli.importing.load import import_file

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
SHAPE = ("customer", "purchases", "redemptions", "events", "event_count")

FILES = {
    "customers.csv": """\
id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in,tier,visits
c1,Ada@Example.com,(303) 555-0100,Ada,Lovelace,America/Denver,2026-01-05T09:00:00Z,,true,gold,3
c2,grace@example.com,,Grace,Hopper,,,false,,,
""",
    "items.csv": """\
id,name,kind,duration_days
explorer-pass,Explorer Pass,pass,30
""",
    "purchases.csv": """\
id,customer_id,item,channel,purchased_at,expires_at,status,amount
p2,c1,prize-tshirt,,2026-11-05T10:00:00Z,,active,
p1,c1,explorer-pass,web,2026-11-01T10:00:00Z,,active,49
""",
    "redemptions.csv": """\
id,customer_id,pass,location,redeemed_at,points
r1,c1,explorer-pass,Museum,2026-11-03T10:00:00Z,50
""",
    "events.jsonl": "".join(
        json.dumps(e) + "\n"
        for e in [
            {
                "type": "track",
                "userId": "c1",
                "event": "Order Completed",
                "properties": {"revenue": 120.5},
                "timestamp": "2026-11-20T10:00:00Z",
                "messageId": "m-1",
            },
            {
                "type": "track",
                "userId": "c1",
                "event": "Session Started",
                "timestamp": "2026-11-21T10:00:00Z",
                "messageId": "m-2",
            },
            {
                "type": "track",
                "userId": "c1",
                "event": "Session Started",
                "timestamp": "2026-11-19T10:00:00Z",
                "messageId": "m-3",
            },
        ]
    ),
}


@pytest.fixture
def loaded(project: Path, engine, tmp_path: Path) -> Path:
    """The project, its store holding one customer with a history."""
    for name, content in FILES.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        report = import_file(engine, name.split(".")[0], path, tz=UTC, region="US", now=NOW)
        assert report.rejected == 0, report.rejections
    return project


def invoke(runner, *args):
    return runner.invoke(app, [str(arg) for arg in args])


def test_customer_show_json_has_the_profile_and_history_with_utc_instants(runner, loaded):
    result = invoke(runner, "customer", "show", "c1", "--json", "--project", loaded)

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # SPEC §5 lists more for `customer show` (segments, messages); these keys are the contract.
    assert {key: document[key] for key in SHAPE} == {
        "customer": {
            "id": "c1",
            "email": "ada@example.com",
            "phone": "+13035550100",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "timezone": "America/Denver",
            "created_at": "2026-01-05T09:00:00Z",
            "email_opt_in": True,
            "sms_opt_in": True,
            "attributes": {"tier": "gold", "visits": 3},
        },
        "purchases": [
            {
                "id": "p1",
                "item": "explorer-pass",
                "item_name": "Explorer Pass",
                "item_kind": "pass",
                "channel": "web",
                "purchased_at": "2026-11-01T10:00:00Z",
                "expires_at": "2026-12-01T10:00:00Z",
                "status": "active",
                "amount": 49.0,
            },
            {
                "id": "p2",
                "item": "prize-tshirt",
                "item_name": "prize-tshirt",
                "item_kind": "product",
                "channel": None,
                "purchased_at": "2026-11-05T10:00:00Z",
                "expires_at": None,
                "status": "active",
                "amount": None,
            },
        ],
        "redemptions": [
            {
                "id": "r1",
                "pass": "explorer-pass",
                "location": "Museum",
                "redeemed_at": "2026-11-03T10:00:00Z",
                "points": 50,
            }
        ],
        "events": [
            {
                "message_id": "m-2",
                "event": "Session Started",
                "ts": "2026-11-21T10:00:00Z",
                "properties": {},
            },
            {
                "message_id": "m-1",
                "event": "Order Completed",
                "ts": "2026-11-20T10:00:00Z",
                "properties": {"revenue": 120.5},
            },
            {
                "message_id": "m-3",
                "event": "Session Started",
                "ts": "2026-11-19T10:00:00Z",
                "properties": {},
            },
        ],
        "event_count": 3,
    }
    assert result.stderr == ""


def test_events_are_limited_to_the_latest_but_counted_in_full(runner, loaded):
    result = invoke(
        runner, "customer", "show", "c1", "--events", "1", "--json", "--project", loaded
    )

    document = json.loads(result.stdout)
    assert [e["message_id"] for e in document["events"]] == ["m-2"]
    assert document["event_count"] == 3


def test_a_customer_without_history_has_empty_lists(runner, loaded):
    result = invoke(runner, "customer", "show", "c2", "--json", "--project", loaded)

    document = json.loads(result.stdout)
    assert (document["purchases"], document["redemptions"], document["events"]) == ([], [], [])
    assert document["event_count"] == 0
    assert (document["customer"]["created_at"], document["customer"]["email_opt_in"]) == (
        None,
        False,
    )


def test_the_human_view_shows_the_name_contacts_and_history(runner, loaded):
    result = invoke(runner, "customer", "show", "c1", "--project", loaded)

    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "c1  Ada Lovelace" in text
    for expected in (
        "ada@example.com",
        "+13035550100",
        "p1",
        "explorer-pass",
        "Museum",
        "Order Completed",
        "gold",
    ):
        assert expected in text


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_unknown_customer_exits_1_with_one_sentence_and_no_traceback(runner, loaded, json_flag):
    result = invoke(runner, "customer", "show", "nobody", *json_flag, "--project", loaded)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["error: no customer with id 'nobody'"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--project", "{p}", "--now", "2026-11-22T17:00:00Z", "customer", "show", "c1", "--json"],
        ["customer", "show", "c1", "--json", "--project", "{p}", "--now", "2026-11-22T17:00:00Z"],
    ],
    ids=["before", "after"],
)
def test_project_and_now_are_accepted_before_and_after_customer_show(runner, loaded, args):
    result = invoke(runner, *(a.format(p=loaded) for a in args))

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["customer"]["id"] == "c1"


def test_the_secret_key_is_never_printed(runner, loaded):
    secret = next(
        line.split("=", 1)[1]
        for line in (loaded / ".env").read_text(encoding="utf-8").splitlines()
        if line.startswith("PASSCLI_SECRET_KEY=")
    )
    results = [
        invoke(runner, "customer", "show", "c1", "--project", loaded),
        invoke(runner, "customer", "show", "c1", "--json", "--project", loaded),
        invoke(runner, "customer", "show", "nobody", "--project", loaded),
    ]

    assert [r.exit_code for r in results] == [0, 0, 1]
    assert all(secret not in r.output for r in results)


def strict_json(text: str):
    """JSON as RFC 8259 has it: NaN and Infinity are not numbers."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_customer_show_json_is_standard_json_for_a_customer_nicknamed_nan(
    runner, project, engine, tmp_path
):
    path = tmp_path / "customers.csv"
    path.write_text("id,nickname\nc1,Nan\n", encoding="utf-8")
    import_file(engine, "customers", path, tz=UTC, region="US", now=NOW)

    result = invoke(runner, "customer", "show", "c1", "--json", "--project", project)

    assert result.exit_code == 0, result.stderr
    assert strict_json(result.stdout)["customer"]["attributes"] == {"nickname": "Nan"}
