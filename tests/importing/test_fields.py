"""The single-value parsers of imports (SPEC §2): each returns the stored form or raises
FieldError with the reason the user sees."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from passcli.importing import fields as f
from passcli.importing.fields import AttributeTyper, FieldError

DENVER = ZoneInfo("America/Denver")
TOKYO = ZoneInfo("Asia/Tokyo")


def epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


# --- email -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  ADA@EXAMPLE.COM \t", "ada@example.com"),
        ("ada+pass@mail.example.co.uk", "ada+pass@mail.example.co.uk"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_emails_are_stored_lower_cased_and_stripped(raw, stored):
    assert f.email(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "not-an-email",
        "ada@example",
        "ada@@example.com",
        "ada lovelace@example.com",
        "@example.com",
        "ada@",
        "ada@example..com",
        "ada@.example.com",
        "ada@example.com.",
    ],
)
def test_emails_with_bad_syntax_are_rejected_with_the_address_in_the_reason(raw):
    with pytest.raises(FieldError) as caught:
        f.email(raw)
    assert str(caught.value) == f"invalid email address {raw.strip().lower()!r}"


# --- phone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "stored"),
    [
        ("(303) 555-0100", "US", "+13035550100"),
        ("303.555.0100", "US", "+13035550100"),
        ("303-555-0100", "US", "+13035550100"),
        ("3035550100", "US", "+13035550100"),
        ("1 303 555 0100", "US", "+13035550100"),
        ("+1 (303) 555-0100", "US", "+13035550100"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("+442079460958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("", "US", None),
        (None, "US", None),
    ],
)
def test_phones_are_normalised_to_e164_reading_national_numbers_in_the_region(raw, region, stored):
    assert f.phone(raw, region) == stored


@pytest.mark.parametrize(
    "raw",
    ["not a phone", "12", "+1 555", "+999 1234567", "303555010099", "+44 20 7946 0958 0958"],
)
def test_garbage_phone_numbers_are_rejected(raw):
    with pytest.raises(FieldError) as caught:
        f.phone(raw, "US")
    assert str(caught.value) == f"cannot parse phone number {raw!r}"


def test_a_local_number_without_area_code_is_rejected_not_stored_as_e164():
    with pytest.raises(FieldError):
        f.phone("555-1234", "US")


# --- booleans --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("yes", True),
        ("1", True),
        (True, True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        (False, False),
        ("", None),
        (None, None),
    ],
)
def test_booleans_parse_true_and_false_words_and_blank_means_unset(raw, value):
    assert f.boolean(raw, "email_opt_in") is value


@pytest.mark.parametrize("raw", ["maybe", "2", "on-ish", "truee"])
def test_other_words_are_not_booleans(raw):
    with pytest.raises(FieldError) as caught:
        f.boolean(raw, "sms_opt_in")
    assert str(caught.value) == f"sms_opt_in must be true or false, not {raw!r}"


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tz", "seconds"),
    [
        ("2026-11-22T17:00:00Z", UTC, epoch(2026, 11, 22, 17)),
        ("2026-11-22T17:00:00Z", DENVER, epoch(2026, 11, 22, 17)),
        ("2026-11-22T17:00:00+00:00", TOKYO, epoch(2026, 11, 22, 17)),
        ("2026-11-22T10:00:00-07:00", TOKYO, epoch(2026, 11, 22, 17)),
        ("2026-11-23T02:00:00+09:00", DENVER, epoch(2026, 11, 22, 17)),
        # Without an offset: wall time in the given zone (MST in November, MDT in July).
        ("2026-11-22T10:00:00", DENVER, epoch(2026, 11, 22, 17)),
        ("2026-07-01T09:00:00", DENVER, epoch(2026, 7, 1, 15)),
        ("2026-11-23T02:00:00", TOKYO, epoch(2026, 11, 22, 17)),
        ("2026-11-22 10:00", DENVER, epoch(2026, 11, 22, 17)),
        ("2026-11-22", TOKYO, epoch(2026, 11, 21, 15)),
        ("2026-11-22T17:00:00.999Z", UTC, epoch(2026, 11, 22, 17)),
        ("", DENVER, None),
        (None, DENVER, None),
    ],
)
def test_timestamps_are_unix_seconds_and_naive_ones_are_read_in_the_zone(raw, tz, seconds):
    assert f.instant(raw, "created_at", tz) == seconds


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "22/11/2026",
        "2026-13-01T00:00:00",
        "2026-11-22T25:00:00",
        "2026-11-22T17:00:00+25:00",
        "1795366800",
        "Sun, 22 Nov 2026 17:00:00 GMT",
    ],
)
def test_timestamps_that_are_not_iso_8601_are_rejected(raw):
    with pytest.raises(FieldError) as caught:
        f.instant(raw, "purchased_at", UTC)
    assert str(caught.value) == f"purchased_at is not an ISO-8601 timestamp: {raw!r}"


# --- other scalars ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [("12.50", 12.5), ("3", 3.0), (7, 7.0), (2.25, 2.25), (" -1 ", -1.0), ("", None)],
)
def test_numbers_parse_to_floats(raw, value):
    assert f.number(raw, "amount") == value


@pytest.mark.parametrize("raw", ["free", "12,50", True])
def test_non_numbers_are_rejected(raw):
    with pytest.raises(FieldError, match="^amount must be a number"):
        f.number(raw, "amount")


@pytest.mark.parametrize(("raw", "value"), [("30", 30), (30, 30), (" 7 ", 7), ("", None)])
def test_whole_numbers_parse_to_ints(raw, value):
    assert f.integer(raw, "points") == value


@pytest.mark.parametrize("raw", ["2.5", "ten", False])
def test_fractions_and_words_are_not_whole_numbers(raw):
    with pytest.raises(FieldError, match="^points must be a whole number"):
        f.integer(raw, "points")


@pytest.mark.parametrize(
    ("raw", "value"),
    [("America/Denver", "America/Denver"), (" Asia/Tokyo ", "Asia/Tokyo"), ("", None)],
)
def test_time_zones_must_be_iana_names(raw, value):
    assert f.timezone_name(raw) == value


def test_an_unknown_time_zone_is_rejected():
    with pytest.raises(FieldError) as caught:
        f.timezone_name("Mars/Olympus_Mons")
    assert str(caught.value) == "unknown time zone 'Mars/Olympus_Mons'"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("Active", "active"), ("", "active"), (None, "active"), ("refunded", "refunded")],
)
def test_choices_are_lower_cased_and_blank_takes_the_default(raw, value):
    assert f.choice(raw, "status", ("active", "cancelled", "refunded"), "active") == value


def test_a_value_outside_the_choices_is_rejected_naming_them():
    with pytest.raises(FieldError) as caught:
        f.choice("pending", "status", ("active", "cancelled", "refunded"), "active")
    assert str(caught.value) == "status must be one of active, cancelled, refunded, not 'pending'"


# --- custom attribute typing -----------------------------------------------------------------


def typed(values: list[str]) -> str:
    typer = AttributeTyper()
    for value in values:
        typer.see(value)
    return typer.kind


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["1", "2", "3"], "number"),
        (["1", "2.5", "-3e2"], "number"),
        (["1", "0"], "number"),
        (["true", "false"], "boolean"),
        (["TRUE", "False", " true "], "boolean"),
        (["gold", "silver"], "text"),
        (["1", "gold"], "text"),
        (["true", "1"], "text"),
        (["true", "maybe"], "text"),
        (["yes", "no"], "text"),
        (["", "3", "  ", "4"], "number"),
        (["", "true", ""], "boolean"),
        (["", "gold"], "text"),
        (["", "  "], "text"),
        ([], "text"),
    ],
)
def test_attribute_columns_are_typed_by_every_non_blank_value(values, kind):
    assert typed(values) == kind


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(["NaN"], id="nan"),
        pytest.param(["Nan", ""], id="a-name"),
        pytest.param(["inf", "1"], id="inf"),
        pytest.param(["Infinity"], id="infinity"),
    ],
)
def test_nan_and_infinity_are_text_not_numbers(values):
    assert typed(values) == "text"


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("3", "number", 3),
        (" 4.5 ", "number", 4.5),
        ("-2", "number", -2),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        (" gold ", "text", "gold"),
        ("02134", "text", "02134"),
    ],
)
def test_attribute_values_are_stored_as_their_column_type_and_integers_stay_integers(
    raw, kind, value
):
    stored = f.attribute_value(raw, kind)
    assert stored == value
    assert type(stored) is type(value)
