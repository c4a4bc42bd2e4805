"""The delivery queue: planned deliveries wait as `pending`, with their rendered message.

A send is planned once (audience, decisions, rendering) into `pending` rows; any number of
workers, in this process or on other hosts, then claim them in batches (FOR UPDATE SKIP
LOCKED on PostgreSQL). `payload` holds the rendered message until an outcome is recorded;
a partial index keeps finding the next pending batch cheap however large the ledger grows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    op.create_index(
        "ix_deliveries_pending",
        "deliveries",
        ["send_key", "id"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("payload")
