"""Column types shared by the schema: instants as integer UTC seconds, JSON on every backend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from passcli.timeutil import from_epoch, to_epoch


class UtcInstant(TypeDecorator[datetime]):
    """An aware datetime in Python, integer unix seconds in the database.

    Integers compare and index cheaply on every backend, and segment bounds computed in
    Python stay plain integer ranges in SQL. An int is accepted on the way in too, so the
    importer's batch writer can pass seconds it has already computed.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, datetime):
            return to_epoch(value)
        raise TypeError(f"UtcInstant takes an aware datetime or int, not {type(value).__name__}")

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        bound = self.process_bind_param(value, dialect)
        return "NULL" if bound is None else str(bound)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else from_epoch(int(value))


def json_type() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact)."""
    return JSON().with_variant(JSONB(), "postgresql")
