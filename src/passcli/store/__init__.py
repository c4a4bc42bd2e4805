"""The store: tables, engines, transactions and migrations."""

from __future__ import annotations

from sqlalchemy import Engine

from passcli.store.engine import make_engine, read_transaction, safe_url, write_transaction
from passcli.store.migrate import ensure_schema

__all__ = ["make_engine", "open_store", "read_transaction", "safe_url", "write_transaction"]


def open_store(url: str) -> Engine:
    """An engine on the store at `url`, migrated to the newest schema."""
    engine = make_engine(url)
    ensure_schema(engine)
    return engine
