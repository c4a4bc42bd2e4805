"""`import_file` end to end against a migrated store: every rule and failure of SPEC §2."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from passcli.errors import UsageError
from passcli.importing.load import import_file
from passcli.importing.report import ImportReport, Rejection
from passcli.store.schema import customers, event_numbers, events, items, metadata, purchases

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
DENVER = ZoneInfo("America/Denver")

CUSTOMERS_HEADER = "id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in"

CUSTOMERS_CSV = f"""\
{CUSTOMERS_HEADER}
c1,Ada@Example.com,(303) 555-0100,Ada,Lovelace,America/Denver,2026-01-05T09:00:00Z,,true
c2,grace@example.com,,Grace,Hopper,,2026-02-01T12:00:00Z,false,
"""

ITEMS_CSV = """\
id,name,kind,duration_days
explorer-pass,Explorer Pass,pass,30
prize-tshirt,Prize T-shirt,prize,
"""

PURCHASES_CSV = """\
id,customer_id,item,channel,purchased_at,expires_at,status,amount
p1,c1,explorer-pass,web,2026-11-01T10:00:00Z,,active,49
p2,c2,prize-tshirt,,2026-11-02T10:00:00Z,,active,
p3,c2,explorer-pass,app,2026-11-03T10:00:00Z,2027-01-01T00:00:00Z,refunded,49.50
"""

REDEMPTIONS_CSV = """\
id,customer_id,pass,location,redeemed_at,points
r1,c1,explorer-pass,Museum,2026-11-03T10:00:00Z,50
r2,c1,explorer-pass,,2026-11-04T10:00:00Z,
"""

EVENTS = [
    {"type": "identify", "userId": "c3", "traits": {"email": "Una@Example.com", "plan": "gold"}},
    {
        "type": "track",
        "userId": "c1",
        "event": "Order Completed",
        "properties": {"revenue": 120.5, "items": 3},
        "timestamp": "2026-11-20T10:00:00Z",
        "messageId": "m-1",
    },
    {
        "type": "track",
        "userId": "c1",
        "event": "Session Started",
        "properties": {},
        "timestamp": "2026-11-21T10:00:00Z",
    },
    {"type": "track", "userId": "c9", "event": "Signed Up", "timestamp": "2026-11-21T11:00:00Z"},
]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def write_jsonl(directory: Path, name: str, records: list[Any]) -> Path:
    path = directory / name
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def load(engine: Engine, kind: str, path: Path, **options: Any) -> ImportReport:
    options.setdefault("tz", UTC)
    options.setdefault("now", NOW)
    return import_file(engine, kind, path, region="US", **options)


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order."""
    with engine.connect() as conn:
        return {
            table.name: [
                dict(row._mapping)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in metadata.sorted_tables
        }


def rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    return dump(engine)[table.name]


def customer(engine: Engine, customer_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.id == customer_id)).one()
    return dict(row._mapping)


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.inserted, report.updated, report.skipped, report.rejected


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def load_everything(engine: Engine, directory: Path) -> list[ImportReport]:
    return [
        load(engine, "customers", write(directory, "customers.csv", CUSTOMERS_CSV)),
        load(engine, "items", write(directory, "items.csv", ITEMS_CSV)),
        load(engine, "purchases", write(directory, "purchases.csv", PURCHASES_CSV)),
        load(engine, "redemptions", write(directory, "redemptions.csv", REDEMPTIONS_CSV)),
        load(engine, "events", write_jsonl(directory, "events.jsonl", EVENTS)),
    ]


# --- customers -------------------------------------------------------------------------------


def test_customers_are_stored_normalised_with_default_opt_ins(engine, tmp_path):
    report = load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))

    assert counts(report) == (2, 0, 0, 0)
    assert report.loaded is True
    assert customer(engine, "c1") == {
        "id": "c1",
        "email": "ada@example.com",
        "phone": "+13035550100",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "timezone": "America/Denver",
        "created_at": utc(2026, 1, 5, 9),
        "email_opt_in": True,  # blank: yes
        "sms_opt_in": True,
        "email_consent_source": "import",
        "sms_consent_source": "import",
        "attributes": {},
    }
    c2 = customer(engine, "c2")
    assert (c2["phone"], c2["timezone"], c2["email_opt_in"], c2["sms_opt_in"]) == (
        None,
        None,
        False,
        False,  # blank: no
    )


def test_customers_may_be_json_lines_whose_extra_keys_keep_their_types(engine, tmp_path):
    path = write_jsonl(
        tmp_path,
        "customers.jsonl",
        [
            {"id": "c1", "email": "A@EXAMPLE.COM", "visits": 3, "tags": ["a"], "vip": True},
            {"id": "c2", "sms_opt_in": True, "phone": "+44 20 7946 0958"},
        ],
    )
    report = load(engine, "customers", path)

    assert counts(report) == (2, 0, 0, 0)
    c1, c2 = customer(engine, "c1"), customer(engine, "c2")
    assert (c1["email"], c1["attributes"]) == (
        "a@example.com",
        {"visits": 3, "tags": ["a"], "vip": True},
    )
    assert (c2["phone"], c2["sms_opt_in"], c2["email_opt_in"]) == ("+442079460958", True, True)


def test_a_bad_email_rejects_only_its_row(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c1,ada@example.com,,,,,,,
        c2,not-an-email,,,,,,,
        c3,Bob@Example.com,,,,,,,
        """,
    )
    report = load(engine, "customers", path)

    assert counts(report) == (2, 0, 0, 1)
    assert report.rejections == [Rejection(3, "invalid email address 'not-an-email'")]
    assert [c["id"] for c in rows(engine, customers)] == ["c1", "c3"]


def test_an_unparseable_phone_rejects_only_its_row(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c1,,call me maybe,,,,,,
        c2,,303-555-0100,,,,,,
        """,
    )
    report = load(engine, "customers", path)

    assert report.rejections == [Rejection(2, "cannot parse phone number 'call me maybe'")]
    assert [(c["id"], c["phone"]) for c in rows(engine, customers)] == [("c2", "+13035550100")]


def test_custom_attribute_columns_are_typed_per_column(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER},visits,vip,tier,note
        c1,,,,,,,,,3,true,gold,
        c2,,,,,,,,,,FALSE,2,
        c3,,,,,,,,,4.5,true,,
        """,
    )
    report = load(engine, "customers", path)

    assert counts(report) == (3, 0, 0, 0)
    assert {c["id"]: c["attributes"] for c in rows(engine, customers)} == {
        "c1": {"visits": 3, "vip": True, "tier": "gold"},
        "c2": {"vip": False, "tier": "2"},  # "gold" in the column makes "2" text
        "c3": {"visits": 4.5, "vip": True},
    }


def test_bad_timestamps_are_rejected_and_naive_ones_are_read_in_the_zone(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c1,,,,,,2026-11-22T10:00:00,,
        c2,,,,,,2026-07-01T09:00:00,,
        c3,,,,,,2026-11-22T10:00:00+01:00,,
        c4,,,,,,yesterday,,
        c5,,,,,,2026-02-30T10:00:00,,
        """,
    )
    report = load(engine, "customers", path, tz=DENVER)

    assert report.rejections == [
        Rejection(5, "created_at is not an ISO-8601 timestamp: 'yesterday'"),
        Rejection(6, "created_at is not an ISO-8601 timestamp: '2026-02-30T10:00:00'"),
    ]
    assert {c["id"]: c["created_at"] for c in rows(engine, customers)} == {
        "c1": utc(2026, 11, 22, 17),  # MST, UTC-7
        "c2": utc(2026, 7, 1, 15),  # MDT, UTC-6
        "c3": utc(2026, 11, 22, 9),  # the offset wins over the zone
    }


def test_duplicate_ids_within_a_file_are_applied_in_order_and_the_later_row_wins(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c1,ada@example.com,,Ada,,,,,
        c2,bob@example.com,,Bob,,,,,
        c1,ada@example.com,,Augusta,,,,,
        c2,bob@example.com,,Bob,,,,,
        """,
    )
    report = load(engine, "customers", path)

    assert counts(report) == (2, 1, 1, 0)
    assert [(c["id"], c["first_name"]) for c in rows(engine, customers)] == [
        ("c1", "Augusta"),
        ("c2", "Bob"),
    ]


def test_rejections_name_the_line_a_row_starts_on_even_after_a_multi_line_field(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER},note
        c1,,,,,,,,,"first line
        second line"

        c2,broken,,,,,,,,
        """,
    )
    report = load(engine, "customers", path)

    assert report.rejections == [Rejection(5, "invalid email address 'broken'")]
    assert customer(engine, "c1")["attributes"] == {"note": "first line\nsecond line"}


def test_a_csv_with_a_byte_order_mark_and_crlf_line_endings_imports_cleanly(engine, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"\xef\xbb\xbfid,email,first_name\r\nc1,ada@example.com,Ada\r\nc2,,Bob\r\n")
    report = load(engine, "customers", path)

    assert counts(report) == (2, 0, 0, 0)
    assert [(c["id"], c["email"], c["first_name"]) for c in rows(engine, customers)] == [
        ("c1", "ada@example.com", "Ada"),
        ("c2", None, "Bob"),
    ]


# --- consent ---------------------------------------------------------------------------------


def test_consent_set_by_a_person_or_carrier_is_not_overridden_by_an_import(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    with engine.begin() as conn:
        conn.execute(
            update(customers)
            .where(customers.c.id == "c1")
            .values(
                email_opt_in=False,
                email_consent_source="person",
                sms_opt_in=False,
                sms_consent_source="carrier",
            )
        )
    again = write(
        tmp_path,
        "again.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c1,ada@example.com,,Augusta,,,,true,true
        """,
    )
    report = load(engine, "customers", again)

    c1 = customer(engine, "c1")
    assert counts(report) == (0, 1, 0, 0)
    assert c1["first_name"] == "Augusta"  # the rest of the row still applies
    assert (c1["email_opt_in"], c1["email_consent_source"]) == (False, "person")
    assert (c1["sms_opt_in"], c1["sms_consent_source"]) == (False, "carrier")


def test_consent_set_by_a_person_is_not_overridden_by_an_identify_call(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    with engine.begin() as conn:
        conn.execute(
            update(customers)
            .where(customers.c.id == "c2")
            .values(email_opt_in=False, email_consent_source="person")
        )
    identify = {"type": "identify", "userId": "c2", "traits": {"emailOptIn": True}}
    load(engine, "events", write_jsonl(tmp_path, "events.jsonl", [identify]))

    c2 = customer(engine, "c2")
    assert (c2["email_opt_in"], c2["email_consent_source"]) == (False, "person")


def test_consent_set_by_an_earlier_import_may_be_changed_by_a_later_one(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "a.csv", "id,email_opt_in\nc1,false\n"))
    load(engine, "customers", write(tmp_path, "b.csv", "id,email_opt_in\nc1,true\n"))

    assert customer(engine, "c1")["email_opt_in"] is True


# --- strict, encodings, malformed files ------------------------------------------------------


def test_strict_loads_nothing_when_one_row_is_bad(engine, tmp_path):
    load_everything(engine, tmp_path)
    before = dump(engine)
    path = write(
        tmp_path,
        "more.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c1,changed@example.com,,,,,,,
        c7,new@example.com,,,,,,,
        c8,not-an-email,,,,,,,
        """,
    )
    report = load(engine, "customers", path, strict=True)

    assert dump(engine) == before
    assert report.loaded is False
    assert counts(report) == (0, 0, 0, 1)
    assert report.rejections == [Rejection(4, "invalid email address 'not-an-email'")]


def test_strict_rolls_back_items_created_for_purchases_too(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    before = dump(engine)
    path = write(
        tmp_path,
        "purchases.csv",
        """\
        id,customer_id,item,purchased_at
        p1,c1,mystery-box,2026-11-01T10:00:00Z
        p2,ghost,mystery-box,2026-11-01T10:00:00Z
        """,
    )
    report = load(engine, "purchases", path, strict=True)

    assert (report.loaded, report.rejected) == (False, 1)
    assert dump(engine) == before


def test_without_strict_the_good_rows_load(engine, tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        f"""\
        {CUSTOMERS_HEADER}
        c7,new@example.com,,,,,,,
        c8,not-an-email,,,,,,,
        c9,,,,,,,maybe,
        """,
    )
    report = load(engine, "customers", path)

    assert report.loaded is True
    assert counts(report) == (1, 0, 0, 2)
    assert report.rejections == [
        Rejection(3, "invalid email address 'not-an-email'"),
        Rejection(4, "email_opt_in must be true or false, not 'maybe'"),
    ]
    assert [c["id"] for c in rows(engine, customers)] == ["c7"]


def test_a_strict_import_without_bad_rows_loads_everything(engine, tmp_path):
    report = load(engine, "customers", write(tmp_path, "c.csv", CUSTOMERS_CSV), strict=True)

    assert (report.loaded, counts(report)) == (True, (2, 0, 0, 0))
    assert len(rows(engine, customers)) == 2


def test_a_csv_line_that_is_not_utf8_rejects_only_that_row(engine, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(
        b"id,email,first_name\n"
        b"c1,ada@example.com,Ada\n"
        b"c2,jerome@example.com,J\xe9r\xf4me\n"  # Latin-1
        b"c3,zoe@example.com,Zo\xc3\xab\n"
    )
    report = load(engine, "customers", path)

    assert report.rejections == [Rejection(3, "not valid UTF-8 text")]
    assert [(c["id"], c["first_name"]) for c in rows(engine, customers)] == [
        ("c1", "Ada"),
        ("c3", "Zoë"),
    ]


def test_a_json_line_that_is_not_utf8_rejects_only_that_row(engine, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{"type":"identify","userId":"u1","traits":{"firstName":"Ada"}}\n'
        b'{"type":"identify","userId":"u2","traits":{"firstName":"J\xe9r\xf4me"}}\n'
        b'{"type":"identify","userId":"u3","traits":{"firstName":"Zo\xc3\xab"}}\n'
    )
    report = load(engine, "events", path)

    assert report.rejections == [Rejection(2, "not valid UTF-8 text")]
    assert [c["id"] for c in rows(engine, customers)] == ["u1", "u3"]


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


@pytest.mark.parametrize(
    ("kind", "name", "content", "fmt", "message"),
    [
        pytest.param(
            "customers",
            "customers.csv",
            b'{"id": "c7", "email": "new@example.com"}\n{"id": "c8"}\n',
            None,
            "is not a customers CSV file",
            id="json-lines-named-csv",
        ),
        pytest.param(
            "customers",
            "customers.jsonl",
            b'{"id": "c7", "email": "new@example.com"}\n',
            "csv",
            "is not a customers CSV file",
            id="json-lines-with-format-csv",
        ),
        pytest.param(
            "customers", "customers.csv", PNG, None, "is not UTF-8 text", id="png-customers"
        ),
        pytest.param(
            "purchases", "purchases.csv", PNG, None, "is not UTF-8 text", id="png-purchases"
        ),
        pytest.param(
            "customers",
            "customers.csv",
            gzip.compress(CUSTOMERS_CSV.encode(), mtime=0),
            None,
            "is not UTF-8 text",
            id="gzipped-csv",
        ),
        pytest.param(
            "items",
            "items.csv",
            b"\x00\x01\x02\x03id,name\n",
            None,
            "is not a items CSV file: its header lacks id",
            id="nul-bytes",
        ),
        pytest.param(
            "items",
            "items.csv",
            b"id\tname\tkind\nexplorer-pass\tExplorer\tpass\n",
            None,
            "is not a items CSV file",
            id="tab-separated",
        ),
        pytest.param("customers", "customers.csv", b"", None, "is empty", id="empty"),
    ],
)
def test_a_file_that_is_not_csv_is_a_usage_error_and_writes_nothing(
    engine, tmp_path, kind, name, content, fmt, message
):
    load_everything(engine, tmp_path)
    before = dump(engine)
    path = tmp_path / "bad" / name
    path.parent.mkdir()
    path.write_bytes(content)

    with pytest.raises(UsageError, match=message):
        load(engine, kind, path, fmt=fmt)
    assert dump(engine) == before


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("c2,bob@example.com", "2 fields, but the header has 3"),
        ("c2,bob@example.com,Bob,extra", "4 fields, but the header has 3"),
    ],
)
def test_csv_rows_with_the_wrong_number_of_fields_are_rejected(engine, tmp_path, line, reason):
    path = write(
        tmp_path,
        "customers.csv",
        f"id,email,first_name\nc1,ada@example.com,Ada\n{line}\nc3,,Cy\n",
    )
    report = load(engine, "customers", path)

    assert report.rejections == [Rejection(3, reason)]
    assert [c["id"] for c in rows(engine, customers)] == ["c1", "c3"]


@pytest.mark.parametrize(
    ("kind", "header", "message"),
    [
        ("purchases", "id,customer_id,item", "header lacks purchased_at"),
        ("redemptions", "id,customer_id,redeemed_at", "header lacks pass"),
        ("items", "id,name,colour", "unknown column colour for items"),
        ("customers", "id,email,email", "the header names email twice"),
    ],
)
def test_a_header_that_does_not_fit_the_kind_is_a_usage_error(
    engine, tmp_path, kind, header, message
):
    path = write(tmp_path, f"{kind}.csv", f"{header}\n")

    with pytest.raises(UsageError, match=message):
        load(engine, kind, path)


# --- upserts and re-imports ------------------------------------------------------------------


def test_reimporting_the_same_files_changes_nothing(engine, tmp_path):
    first = load_everything(engine, tmp_path)
    before = dump(engine)
    second = load_everything(engine, tmp_path)

    assert [counts(r) for r in first] == [
        (2, 0, 0, 0),
        (2, 0, 0, 0),
        (3, 0, 0, 0),
        (2, 0, 0, 0),
        (4, 0, 0, 0),
    ]
    assert [counts(r) for r in second] == [
        (0, 0, 2, 0),
        (0, 0, 2, 0),
        (0, 0, 3, 0),
        (0, 0, 2, 0),
        (0, 0, 4, 0),
    ]
    assert dump(engine) == before


def test_a_changed_row_is_counted_updated_and_the_others_skipped(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    changed = CUSTOMERS_CSV.replace("Grace,Hopper", "Grace,Brewster Hopper")
    report = load(engine, "customers", write(tmp_path, "changed.csv", changed))

    assert counts(report) == (0, 1, 1, 0)
    assert customer(engine, "c2")["last_name"] == "Brewster Hopper"


def test_a_changed_purchase_is_counted_updated(engine, tmp_path):
    load_everything(engine, tmp_path)
    changed = PURCHASES_CSV.replace("Z,,active,49", "Z,,cancelled,49")
    report = load(engine, "purchases", write(tmp_path, "changed.csv", changed))

    assert counts(report) == (0, 1, 2, 0)
    assert [p["status"] for p in rows(engine, purchases)] == ["cancelled", "active", "refunded"]


# --- items, purchases, redemptions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        (
            "purchases",
            "id,customer_id,item,purchased_at\np1,c1,explorer-pass,2026-11-01\n"
            "p2,ghost,explorer-pass,2026-11-01\n",
        ),
        (
            "redemptions",
            "id,customer_id,pass,redeemed_at\nr1,c1,explorer-pass,2026-11-01\n"
            "r2,ghost,explorer-pass,2026-11-01\n",
        ),
    ],
)
def test_purchases_and_redemptions_of_unknown_customers_are_rejected(
    engine, tmp_path, kind, content
):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    report = load(engine, kind, write(tmp_path, f"{kind}.csv", content))

    assert counts(report) == (1, 0, 0, 1)
    assert report.rejections == [Rejection(3, "unknown customer 'ghost'")]
    assert [(row["id"], row["customer_id"]) for row in dump(engine)[kind]] == [
        (f"{kind[0]}1", "c1")
    ]


def test_an_item_first_seen_in_a_purchase_is_created_as_a_product(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    path = write(
        tmp_path,
        "purchases.csv",
        """\
        id,customer_id,item,purchased_at
        p1,c1,mystery-box,2026-11-01T10:00:00Z
        p2,c2,mystery-box,2026-11-02T10:00:00Z
        """,
    )
    load(engine, "purchases", path)
    load(engine, "purchases", path)

    assert rows(engine, items) == [
        {"id": "mystery-box", "name": "mystery-box", "kind": "product", "duration_days": None}
    ]
    report = load(
        engine, "items", write(tmp_path, "items.csv", "id,name,kind\nmystery-box,Mystery,prize\n")
    )
    assert counts(report) == (0, 1, 0, 0)
    assert rows(engine, items)[0]["kind"] == "prize"


def test_a_blank_expiry_is_derived_from_the_items_duration(engine, tmp_path):
    load_everything(engine, tmp_path)

    assert {p["id"]: p["expires_at"] for p in rows(engine, purchases)} == {
        "p1": utc(2026, 11, 1, 10) + timedelta(days=30),  # explorer-pass lasts 30 days
        "p2": None,  # prize-tshirt has no duration: never expires
        "p3": utc(2027, 1, 1),  # given in the file
    }


def test_purchase_fields_are_stored_as_given(engine, tmp_path):
    load_everything(engine, tmp_path)

    p3 = rows(engine, purchases)[2]
    assert p3 == {
        "id": "p3",
        "customer_id": "c2",
        "item": "explorer-pass",
        "channel": "app",
        "purchased_at": utc(2026, 11, 3, 10),
        "expires_at": utc(2027, 1, 1),
        "status": "refunded",
        "amount": 49.5,
    }


def test_redemptions_without_points_earn_zero(engine, tmp_path):
    load_everything(engine, tmp_path)

    assert [(r["id"], r["location"], r["points"]) for r in dump(engine)["redemptions"]] == [
        ("r1", "Museum", 50),
        ("r2", None, 0),
    ]


# --- events ----------------------------------------------------------------------------------


def test_repeated_message_ids_are_skipped_not_rejected(engine, tmp_path):
    track = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"revenue": 10},
        "timestamp": "2026-11-20T10:00:00Z",
        "messageId": "m-1",
    }
    retry = {**track, "properties": {"revenue": 99}}  # same messageId: the first one counts
    report = load(engine, "events", write_jsonl(tmp_path, "a.jsonl", [track, retry]))
    again = load(engine, "events", write_jsonl(tmp_path, "b.jsonl", [retry]))

    assert counts(report) == (1, 0, 1, 0)
    assert counts(again) == (0, 0, 1, 0)
    assert [(e["message_id"], e["properties"]) for e in rows(engine, events)] == [
        ("m-1", {"revenue": 10})
    ]


def test_a_track_without_message_id_gets_a_derived_id_so_reimport_is_a_no_op(engine, tmp_path):
    track = {
        "type": "track",
        "userId": "u1",
        "event": "Session Started",
        "properties": {"screen": "home"},
        "timestamp": "2026-11-20T10:00:00Z",
    }
    path = write_jsonl(tmp_path, "events.jsonl", [track])
    first = load(engine, "events", path)
    before = dump(engine)
    second = load(engine, "events", path, now=NOW + timedelta(days=1))

    assert counts(first) == (1, 0, 0, 0)
    assert counts(second) == (0, 0, 1, 0)
    assert dump(engine) == before
    assert rows(engine, events)[0]["message_id"].startswith("derived-")


def test_a_track_without_message_id_or_timestamp_is_not_duplicated_by_a_later_reimport(
    engine, tmp_path
):
    track = {"type": "track", "userId": "u1", "event": "Session Started"}
    path = write_jsonl(tmp_path, "events.jsonl", [track])
    load(engine, "events", path)
    second = load(engine, "events", path, now=NOW + timedelta(days=1))

    assert counts(second) == (0, 0, 1, 0)
    assert len(rows(engine, events)) == 1


def test_a_track_without_timestamp_happens_at_the_imports_now(engine, tmp_path):
    track = {"type": "track", "userId": "u1", "event": "Session Started", "messageId": "m-1"}
    load(engine, "events", write_jsonl(tmp_path, "events.jsonl", [track]))

    event = rows(engine, events)[0]
    assert (event["ts"], event["received_at"]) == (NOW, NOW)


def test_a_track_for_an_unknown_user_creates_a_bare_customer(engine, tmp_path):
    track = {
        "type": "track",
        "userId": "u9",
        "event": "Signed Up",
        "timestamp": "2026-11-21T11:00:00Z",
        "messageId": "m-9",
    }
    load(engine, "events", write_jsonl(tmp_path, "events.jsonl", [track]))

    assert customer(engine, "u9") == {
        "id": "u9",
        "email": None,
        "phone": None,
        "first_name": None,
        "last_name": None,
        "timezone": None,
        "created_at": None,
        "email_opt_in": True,
        "sms_opt_in": False,
        "email_consent_source": None,
        "sms_consent_source": None,
        "attributes": {},
    }
    assert [(e["customer_id"], e["event"], e["ts"]) for e in rows(engine, events)] == [
        ("u9", "Signed Up", utc(2026, 11, 21, 11))
    ]


def test_identify_upserts_traits_and_keeps_consent_without_opt_in_traits(engine, tmp_path):
    load(engine, "customers", write(tmp_path, "customers.csv", CUSTOMERS_CSV))
    calls = [
        {"type": "identify", "userId": "c2", "traits": {"lastName": "Murray", "plan": "gold"}},
        {"type": "identify", "userId": "c1", "traits": {"smsOptIn": False}},
        {"type": "identify", "userId": "n1", "traits": {"email": "New@Example.com"}},
    ]
    report = load(engine, "events", write_jsonl(tmp_path, "events.jsonl", calls))

    assert counts(report) == (1, 2, 0, 0)
    c1, c2, n1 = customer(engine, "c1"), customer(engine, "c2"), customer(engine, "n1")
    assert (c2["first_name"], c2["last_name"], c2["attributes"]) == (
        "Grace",
        "Murray",
        {"plan": "gold"},
    )
    assert (c2["email_opt_in"], c2["sms_opt_in"]) == (False, False)  # as the customers file had
    assert (c1["email_opt_in"], c1["sms_opt_in"]) == (True, False)  # an opt-in trait applies
    assert (n1["email"], n1["email_opt_in"], n1["sms_opt_in"]) == ("new@example.com", True, False)


def test_numeric_event_properties_land_in_event_numbers_without_booleans(engine, tmp_path):
    track = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "properties": {
            "revenue": 120.5,
            "items": 3,
            "first_order": True,
            "coupon": "WINTER",
            "amount_text": "12",
            "cart": {"total": 5},
        },
        "timestamp": "2026-11-20T10:00:00Z",
        "messageId": "m-1",
    }
    load(engine, "events", write_jsonl(tmp_path, "events.jsonl", [track]))

    [event] = rows(engine, events)
    assert event["properties"] == track["properties"]
    # Each number row points at its event through event_numbers' foreign key.
    [link] = event_numbers.foreign_keys
    own, referenced = link.parent.name, link.column.name
    assert sorted(
        (n[own], n["name"], n["customer_id"], n["event"], n["ts"], n["value"])
        for n in rows(engine, event_numbers)
    ) == [
        (event[referenced], "items", "u1", "Order Completed", utc(2026, 11, 20, 10), 3.0),
        (event[referenced], "revenue", "u1", "Order Completed", utc(2026, 11, 20, 10), 120.5),
    ]


def test_bad_event_lines_are_rejected_with_their_line_numbers(engine, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"type":"identify","userId":"u1","traits":{}}\n'
        "\n"
        '{"type":"page","userId":"u1"}\n'
        "{not json\n"
        "[1, 2]\n"
        '{"type":"track","userId":"u1","event":"X","timestamp":"noon"}\n'
        '{"type":"track","userId":"u2","event":"X","messageId":"m-2"}\n',
        encoding="utf-8",
    )
    report = load(engine, "events", path)

    assert [(r.line, r.reason.split(":")[0]) for r in report.rejections] == [
        (3, "type must be track or identify, not 'page'"),
        (4, "not valid JSON"),
        (5, "not a JSON object"),
        (6, "timestamp is not an ISO-8601 timestamp"),
    ]
    assert counts(report) == (2, 0, 0, 4)


@pytest.mark.parametrize(
    ("name", "fmt"), [("events.csv", None), ("events.jsonl", "csv"), ("events.txt", "csv")]
)
def test_events_must_be_json_lines(engine, tmp_path, name, fmt):
    path = write(tmp_path, name, "type,userId\ntrack,u1\n")

    with pytest.raises(UsageError, match="events are imported from JSON Lines only"):
        load(engine, "events", path, fmt=fmt)
    assert rows(engine, customers) == []


@pytest.mark.parametrize("kind", ["items", "purchases", "redemptions"])
def test_only_customers_and_events_may_be_json_lines(engine, tmp_path, kind):
    path = write_jsonl(tmp_path, f"{kind}.jsonl", [{"id": "x"}])

    with pytest.raises(UsageError, match=f"{kind} are imported from CSV only"):
        load(engine, kind, path)


# --- formats, usage, progress ----------------------------------------------------------------


def test_format_overrides_the_extension(engine, tmp_path):
    jsonl_named_txt = write_jsonl(tmp_path, "people.txt", [{"id": "j1", "email": "J@x.io"}])
    csv_named_jsonl = write(tmp_path, "people.jsonl", "id,email\nc1,C@x.io\n")
    ndjson = write_jsonl(tmp_path, "people.data", [{"id": "n1"}])

    assert counts(load(engine, "customers", jsonl_named_txt, fmt="jsonl")) == (1, 0, 0, 0)
    assert counts(load(engine, "customers", csv_named_jsonl, fmt="csv")) == (1, 0, 0, 0)
    assert counts(load(engine, "customers", ndjson, fmt="ndjson")) == (1, 0, 0, 0)
    assert [(c["id"], c["email"]) for c in rows(engine, customers)] == [
        ("c1", "c@x.io"),
        ("j1", "j@x.io"),
        ("n1", None),
    ]


@pytest.mark.parametrize(
    ("kind", "name", "fmt", "message"),
    [
        ("customers", "people.txt", None, "cannot tell the format of people.txt"),
        ("customers", "people.csv", "xml", "--format must be csv or jsonl, not 'xml'"),
        ("visits", "people.csv", None, "unknown import kind 'visits'"),
        ("customers", "missing.csv", None, "no such file"),
    ],
)
def test_bad_usage_raises_usage_error(engine, tmp_path, kind, name, fmt, message):
    write(tmp_path, "people.txt", "id\nc1\n")
    write(tmp_path, "people.csv", "id\nc1\n")

    with pytest.raises(UsageError, match=message):
        load(engine, kind, tmp_path / name, fmt=fmt)
    assert rows(engine, customers) == []


def test_progress_reports_bytes_read_up_to_the_file_size(engine, tmp_path):
    path = write(tmp_path, "customers.csv", CUSTOMERS_CSV)
    seen: list[tuple[int, int]] = []
    load(engine, "customers", path, progress=lambda done, total: seen.append((done, total)))

    size = path.stat().st_size
    assert seen[-1] == (size, size)


TRICKY_CUSTOMERS_CSV = f"""\
{CUSTOMERS_HEADER},visits
c1,ada@example.com,,Ada,,,,,,3
c2,broken,,,,,,,,
c1,ada@example.com,,Augusta,,,,false,,4
c4,,,Dee,,,,,,
c1,ada@example.com,,Augusta,,,,false,,4
"""

TRICKY_EVENTS = [
    {"type": "track", "userId": "u5", "event": "A", "timestamp": "2026-11-20T10:00:00Z"},
    {"type": "identify", "userId": "u5", "traits": {"firstName": "Eve"}},
    {"type": "track", "userId": "u5", "event": "A", "timestamp": "2026-11-20T10:00:00Z"},
    {"type": "track", "userId": "u6", "event": "B", "messageId": "m-6", "properties": {"n": 1}},
    {"type": "nonsense"},
    {"type": "track", "userId": "u6", "event": "B", "messageId": "m-6", "properties": {"n": 2}},
]


def load_tricky(engine: Engine, directory: Path) -> list[ImportReport]:
    return [
        load(engine, "customers", write(directory, "tricky.csv", TRICKY_CUSTOMERS_CSV)),
        load(engine, "events", write_jsonl(directory, "tricky.jsonl", TRICKY_EVENTS)),
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_small_batches_store_the_same_as_one_batch(
    engine, new_database_url, tmp_path, monkeypatch, batch_size
):
    """Rows are applied in file order whatever the batch boundaries: duplicates, repeated
    messageIds, unknown users and rejections cross them."""
    from passcli.importing import produce as produce_module
    from passcli.store import open_store

    reference = open_store(new_database_url())  # a second store on the same backend
    try:
        expected_reports = [
            *load_everything(reference, tmp_path),
            *load_tricky(reference, tmp_path),
        ]
        expected = dump(reference)
    finally:
        reference.dispose()
    monkeypatch.setattr(produce_module, "BATCH_SIZE", batch_size)
    reports = [*load_everything(engine, tmp_path), *load_tricky(engine, tmp_path)]

    assert dump(engine) == expected
    assert [r.rejections for r in reports] == [r.rejections for r in expected_reports]
    assert [r.rejections for r in reports][-2:] == [
        [Rejection(3, "invalid email address 'broken'")],
        [Rejection(5, "type must be track or identify, not 'nonsense'")],
    ]
    c1 = customer(engine, "c1")
    assert (c1["first_name"], c1["email_opt_in"], c1["attributes"]) == (
        "Augusta",
        False,
        {"visits": 4},
    )


def test_counts_of_events_follow_file_order_whatever_the_batch_size(engine, tmp_path, monkeypatch):
    from passcli.importing import produce as produce_module

    calls = [
        {"type": "track", "userId": "u5", "event": "A", "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "identify", "userId": "u5", "traits": {"firstName": "Eve"}},
    ]
    whole = load(engine, "events", write_jsonl(tmp_path, "a.jsonl", calls))
    monkeypatch.setattr(produce_module, "BATCH_SIZE", 1)
    calls = [{**call, "userId": "u6"} for call in calls]
    one_by_one = load(engine, "events", write_jsonl(tmp_path, "b.jsonl", calls))

    # In file order the track creates the customer, and the identify then updates it.
    assert counts(one_by_one) == (1, 1, 0, 0)
    assert counts(whole) == counts(one_by_one)
