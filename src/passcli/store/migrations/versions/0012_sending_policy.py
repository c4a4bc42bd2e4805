"""Sending policy (SPEC §11): held deliveries and shared rate limits.

A delivery held by quiet hours is a ledger row with status `held`: `hold_until` is when the
customer's quiet hours end (a later run-due releases it then) and `hold_deadline` when it
may no longer go out (its occurrence plus `misfire_grace`). The partial index finds the
held rows that are due without walking the ledger.

`rate_slots` holds, per transport, the next instant a send may start: every worker of every
process reserves its sends there, so a rate limit holds across all of them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import passcli.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hold_until", passcli.store.types.UtcInstant(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("hold_deadline", passcli.store.types.UtcInstant(), nullable=True)
        )
    op.create_index(
        "ix_deliveries_held",
        "deliveries",
        ["hold_until"],
        unique=False,
        sqlite_where=sa.text("status = 'held'"),
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "rate_slots",
        sa.Column("transport", sa.String(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("transport"),
    )


def downgrade() -> None:
    op.drop_table("rate_slots")
    op.drop_index("ix_deliveries_held", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("hold_deadline")
        batch_op.drop_column("hold_until")
