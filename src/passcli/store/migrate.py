"""Schema migrations, applied from code.

Every command opens the store through `ensure_schema`, which costs one small query when the
schema is current; alembic is imported only when the store is behind (LIMITS.md: importing
alembic costs most of a second, which a cron-run `run-due` should not pay every minute).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from passcli.errors import StoreError
from passcli.store.engine import write_transaction

# The newest revision in migrations/versions; a test keeps the two in step.
HEAD_REVISION = "0012"


def current_revision(conn: Connection) -> str | None:
    """The store's alembic revision, or None for an empty store."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> bool:
    """Bring the store to the newest schema; True when a migration ran."""
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"cannot reach the store: {reason}") from exc
    if revision == HEAD_REVISION:
        return False
    upgrade(engine)
    return True


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run alembic's upgrade on one write transaction (shared connection, alembic cookbook)."""
    from alembic import command
    from alembic.config import Config

    with write_transaction(engine) as conn:
        config = Config()
        config.set_main_option("script_location", "passcli.store:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
