"""Per-kind normalisers (SPEC §2): a raw CSV or JSON row in, a store record out."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from passcli.importing import rows as r
from passcli.importing.fields import FieldError

NOW = int(datetime(2026, 11, 22, 17, 0, tzinfo=UTC).timestamp())
DENVER = ZoneInfo("America/Denver")


def ctx(tz=UTC, region="US", **attribute_kinds: str) -> r.RowContext:
    return r.RowContext(tz=tz, region=region, now=NOW, attribute_kinds=attribute_kinds)


def epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


# --- customers -------------------------------------------------------------------------------


def test_a_customers_row_is_normalised_column_by_column():
    raw = {
        "id": " c1 ",
        "email": "Ada@Example.COM",
        "phone": "(303) 555-0100",
        "first_name": " Ada ",
        "last_name": "",
        "timezone": "America/Denver",
        "created_at": "2026-11-22T10:00:00",
        "email_opt_in": "false",
        "sms_opt_in": "",
    }
    patch = r.customer_from_columns(raw, ctx(tz=DENVER))
    assert patch.id == "c1"
    assert patch.values == {
        "email": "ada@example.com",
        "phone": "+13035550100",
        "first_name": "Ada",
        "last_name": None,
        "timezone": "America/Denver",
        "created_at": epoch(2026, 11, 22, 17),
        "email_opt_in": False,
        "sms_opt_in": None,  # blank: the default for a new customer
    }
    assert patch.attributes == {}


def test_columns_absent_from_the_row_are_left_out_of_the_patch():
    patch = r.customer_from_columns({"id": "c1", "email": "a@example.com"}, ctx())
    assert patch.values == {"email": "a@example.com"}


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("email", "not-an-email", "invalid email address 'not-an-email'"),
        ("phone", "call me", "cannot parse phone number 'call me'"),
        ("timezone", "Mountain", "unknown time zone 'Mountain'"),
        ("created_at", "last week", "created_at is not an ISO-8601 timestamp: 'last week'"),
        ("email_opt_in", "maybe", "email_opt_in must be true or false, not 'maybe'"),
        ("id", "", "id is required"),
    ],
)
def test_a_bad_customers_value_rejects_the_row_with_its_reason(column, value, reason):
    raw = {"id": "c1", column: value}
    with pytest.raises(FieldError) as caught:
        r.customer_from_columns(raw, ctx())
    assert str(caught.value) == reason


def test_extra_csv_columns_become_attributes_typed_by_their_column():
    raw = {"id": "c1", "visits": "3", "vip": "TRUE", "tier": "2", "note": ""}
    patch = r.customer_from_columns(
        raw, ctx(visits="number", vip="boolean", tier="text", note="number")
    )
    assert patch.attributes == {"visits": 3, "vip": True, "tier": "2"}
    assert patch.removed_attributes == ("note",)


def test_extra_json_keys_keep_their_json_types_and_null_removes_them():
    raw = {"id": "c1", "visits": 3, "tags": ["a", "b"], "vip": False, "gone": None}
    patch = r.customer_from_columns(raw, ctx())
    assert patch.attributes == {"visits": 3, "tags": ["a", "b"], "vip": False}
    assert patch.removed_attributes == ("gone",)


# --- identify --------------------------------------------------------------------------------


def test_identify_maps_segment_traits_to_columns_and_the_rest_to_attributes():
    raw = {
        "type": "identify",
        "userId": "u1",
        "traits": {
            "email": "U1@Example.com",
            "phone": "+44 20 7946 0958",
            "firstName": "Una",
            "lastName": "One",
            "timezone": "Asia/Tokyo",
            "plan": "gold",
            "visits": 4,
        },
    }
    patch = r.customer_from_identify(raw, ctx())
    assert patch.id == "u1"
    assert patch.values == {
        "email": "u1@example.com",
        "phone": "+442079460958",
        "first_name": "Una",
        "last_name": "One",
        "timezone": "Asia/Tokyo",
    }
    assert patch.attributes == {"plan": "gold", "visits": 4}


def test_identify_without_opt_in_traits_leaves_consent_out_of_the_patch():
    patch = r.customer_from_identify({"userId": "u1", "traits": {"firstName": "Una"}}, ctx())
    assert "email_opt_in" not in patch.values
    assert "sms_opt_in" not in patch.values


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"traits": {}}, "userId is required"),
        ({"userId": "u1", "traits": ["x"]}, "traits must be a JSON object"),
        ({"userId": "u1", "traits": {"email": "nope"}}, "invalid email address 'nope'"),
    ],
)
def test_a_bad_identify_call_is_rejected(raw, reason):
    with pytest.raises(FieldError) as caught:
        r.customer_from_identify(raw, ctx())
    assert str(caught.value) == reason


# --- items, purchases, redemptions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "record"),
    [
        (
            {
                "id": "explorer-pass",
                "name": "Explorer Pass",
                "kind": "Pass",
                "duration_days": "365",
            },
            {"id": "explorer-pass", "name": "Explorer Pass", "kind": "pass", "duration_days": 365},
        ),
        (
            {"id": "tshirt", "name": "", "kind": "", "duration_days": ""},
            {"id": "tshirt", "name": "tshirt", "kind": "product", "duration_days": None},
        ),
    ],
)
def test_items_default_their_name_to_the_id_and_kind_to_product(raw, record):
    assert r.item_record(raw, ctx()) == record


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"id": "x", "kind": "voucher"}, "kind must be one of pass, prize, membership, ticket, "),
        ({"id": "x", "duration_days": "0"}, "duration_days must be positive, not 0"),
        ({"id": "x", "duration_days": "-3"}, "duration_days must be positive, not -3"),
        ({"id": "x", "duration_days": "a year"}, "duration_days must be a whole number"),
    ],
)
def test_bad_items_are_rejected(raw, reason):
    with pytest.raises(FieldError) as caught:
        r.item_record(raw, ctx())
    assert str(caught.value).startswith(reason)


def test_a_purchase_reads_naive_times_in_the_zone_and_leaves_a_blank_expiry_for_the_loader():
    raw = {
        "id": "p1",
        "customer_id": "c1",
        "item": "explorer-pass",
        "channel": "web",
        "purchased_at": "2026-11-22T10:00:00",
        "expires_at": "",
        "status": "",
        "amount": "49.00",
    }
    assert r.purchase_record(raw, ctx(tz=DENVER)) == {
        "id": "p1",
        "customer_id": "c1",
        "item": "explorer-pass",
        "channel": "web",
        "purchased_at": epoch(2026, 11, 22, 17),
        "expires_at": None,
        "status": "active",
        "amount": 49.0,
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"purchased_at": ""}, "purchased_at is required"),
        ({"purchased_at": "soon"}, "purchased_at is not an ISO-8601 timestamp: 'soon'"),
        ({"expires_at": "never"}, "expires_at is not an ISO-8601 timestamp: 'never'"),
        ({"status": "pending"}, "status must be one of active, cancelled, refunded, not 'pending'"),
        ({"amount": "free"}, "amount must be a number, not 'free'"),
        ({"customer_id": " "}, "customer_id is required"),
        ({"item": ""}, "item is required"),
    ],
)
def test_bad_purchases_are_rejected(change, reason):
    raw = {
        "id": "p1",
        "customer_id": "c1",
        "item": "explorer-pass",
        "purchased_at": "2026-11-22T10:00:00Z",
        **change,
    }
    with pytest.raises(FieldError) as caught:
        r.purchase_record(raw, ctx())
    assert str(caught.value) == reason


def test_a_redemption_without_points_earns_none():
    raw = {
        "id": "r1",
        "customer_id": "c1",
        "pass": "explorer-pass",
        "location": "",
        "redeemed_at": "2026-11-23T02:00:00",
        "points": "",
    }
    assert r.redemption_record(raw, ctx(tz=ZoneInfo("Asia/Tokyo"))) == {
        "id": "r1",
        "customer_id": "c1",
        "pass": "explorer-pass",
        "location": None,
        "redeemed_at": epoch(2026, 11, 22, 17),
        "points": 0,
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"redeemed_at": ""}, "redeemed_at is required"),
        ({"points": "2.5"}, "points must be a whole number, not '2.5'"),
        ({"pass": ""}, "pass is required"),
    ],
)
def test_bad_redemptions_are_rejected(change, reason):
    raw = {"id": "r1", "customer_id": "c1", "pass": "p", "redeemed_at": "2026-11-22", **change}
    with pytest.raises(FieldError) as caught:
        r.redemption_record(raw, ctx())
    assert str(caught.value) == reason


# --- track -----------------------------------------------------------------------------------


def test_a_track_keeps_its_message_id_and_reads_its_timestamp():
    raw = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"revenue": 120},
        "timestamp": "2026-11-22T10:00:00-07:00",
        "messageId": "m-1",
    }
    assert r.track_record(raw, ctx()) == {
        "message_id": "m-1",
        "customer_id": "u1",
        "event": "Order Completed",
        "ts": epoch(2026, 11, 22, 17),
        "received_at": NOW,
        "properties": {"revenue": 120},
    }


def test_a_track_without_message_id_gets_the_same_derived_id_for_the_same_call():
    call = {
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"revenue": 120, "currency": "USD"},
        "timestamp": "2026-11-22T17:00:00Z",
    }
    reordered = {**call, "properties": {"currency": "USD", "revenue": 120}}
    same_instant = {**call, "timestamp": "2026-11-22T10:00:00-07:00"}
    first = r.track_record(call, ctx())["message_id"]
    assert first.startswith("derived-")
    assert r.track_record(reordered, ctx())["message_id"] == first
    assert r.track_record(same_instant, ctx(tz=DENVER))["message_id"] == first


@pytest.mark.parametrize(
    "change",
    [
        {"userId": "u2"},
        {"event": "Order Refunded"},
        {"timestamp": "2026-11-22T17:00:01Z"},
        {"properties": {"revenue": 121}},
    ],
)
def test_the_derived_id_changes_with_user_event_timestamp_and_properties(change):
    call = {
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"revenue": 120},
        "timestamp": "2026-11-22T17:00:00Z",
    }
    assert (
        r.track_record({**call, **change}, ctx())["message_id"]
        != r.track_record(call, ctx())["message_id"]
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"event": "X"}, "userId is required"),
        ({"userId": "u1"}, "event is required"),
        ({"userId": "u1", "event": "X", "properties": [1]}, "properties must be a JSON object"),
        (
            {"userId": "u1", "event": "X", "timestamp": "noon"},
            "timestamp is not an ISO-8601 timestamp: 'noon'",
        ),
    ],
)
def test_a_bad_track_call_is_rejected(raw, reason):
    with pytest.raises(FieldError) as caught:
        r.track_record(raw, ctx())
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("properties", "numbers"),
    [
        ({"revenue": 120, "tax": 9.5}, [("revenue", 120.0), ("tax", 9.5)]),
        ({"first": True, "gift": False}, []),
        ({"sku": "A-1", "qty": "3", "items": [1, 2], "meta": {"n": 1}}, []),
        ({"refund": -20, "zero": 0}, [("refund", -20.0), ("zero", 0.0)]),
    ],
)
def test_only_top_level_non_boolean_numbers_are_numeric_properties(properties, numbers):
    assert r.numeric_properties(properties) == numbers
