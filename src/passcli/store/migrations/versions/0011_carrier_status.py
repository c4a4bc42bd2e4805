"""Deliveries: the carrier's status of a sent text (Twilio status callbacks, SPEC §11).

`carrier_status`, `carrier_error` and `carrier_status_at` hold the latest status Twilio
reported for the delivery, apart from its own `status` (caps still count the send); the
index on `provider_id` finds the delivery a callback names by its MessageSid.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import passcli.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carrier_status", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("carrier_error", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("carrier_status_at", passcli.store.types.UtcInstant(), nullable=True)
        )
        batch_op.create_index("ix_deliveries_provider_id", ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_provider_id")
        batch_op.drop_column("carrier_status_at")
        batch_op.drop_column("carrier_error")
        batch_op.drop_column("carrier_status")
