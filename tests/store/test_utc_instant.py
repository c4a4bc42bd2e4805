"""UtcInstant: an aware datetime in Python, integer unix seconds in the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import StatementError

from passcli.store import read_transaction, write_transaction
from passcli.store.schema import customers
from passcli.store.types import UtcInstant

INSTANT = UtcInstant()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 22, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("America/Denver")),
        datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        datetime(2026, 11, 22, 22, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_aware_datetimes_round_trip_through_the_store_as_utc(engine, value):
    with write_transaction(engine) as conn:
        conn.execute(
            insert(customers).values(
                id="c1", created_at=value, email_opt_in=True, sms_opt_in=False, attributes={}
            )
        )
    with read_transaction(engine) as conn:
        stored = conn.execute(text("SELECT created_at FROM customers")).scalar_one()
        read = conn.execute(select(customers.c.created_at)).scalar_one()

    assert stored == 1795366800  # 2026-11-22T17:00:00Z in unix seconds
    assert read == value
    assert read.utcoffset() == timedelta(0)


def test_a_naive_datetime_is_refused_on_the_way_in(engine):
    with pytest.raises(StatementError, match="naive datetime"):
        with engine.begin() as conn:
            conn.execute(
                insert(customers).values(
                    id="c1",
                    created_at=datetime(2026, 11, 22, 17, 0),
                    email_opt_in=True,
                    sms_opt_in=False,
                    attributes={},
                )
            )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(2026, 11, 22, 17, 0, 0, 999_999, tzinfo=UTC), 1795366800),
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), -1),
        (1795366800, 1795366800),
        (None, None),
    ],
)
def test_instants_bind_as_whole_unix_seconds_floored(value, seconds):
    assert INSTANT.process_bind_param(value, None) == seconds


@pytest.mark.parametrize("value", ["2026-11-22T17:00:00Z", 1795366800.5])
def test_strings_and_floats_are_refused(value):
    with pytest.raises(TypeError, match="UtcInstant takes an aware datetime or int"):
        INSTANT.process_bind_param(value, None)


def test_a_naive_datetime_is_refused_by_the_type_itself():
    with pytest.raises(ValueError, match="naive datetime"):
        INSTANT.process_bind_param(datetime(2026, 11, 22, 17, 0), None)


@pytest.mark.parametrize(
    ("seconds", "value"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1795366800, datetime(2026, 11, 22, 17, 0, tzinfo=UTC)),
        (None, None),
    ],
)
def test_stored_seconds_come_back_as_aware_utc_datetimes(seconds, value):
    result = INSTANT.process_result_value(seconds, None)

    assert result == value
    if value is not None:
        assert result.tzinfo is UTC


def test_literal_rendering_inlines_the_seconds():
    assert INSTANT.process_literal_param(datetime(1970, 1, 2, tzinfo=UTC), None) == "86400"
    assert INSTANT.process_literal_param(None, None) == "NULL"
