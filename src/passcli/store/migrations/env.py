"""Alembic environment: always run from code on a connection passcli shares (migrate.py)."""

from __future__ import annotations

from alembic import context

from passcli.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
