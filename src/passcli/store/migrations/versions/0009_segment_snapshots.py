"""Segment snapshots for audience sync (`segment diff`, `segment sync`).

`segment_syncs` holds one row per synced segment (its count of successful syncs, the last
one's instant, its snapshot's size); `segment_snapshots` the members as of that sync.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import passcli.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_syncs",
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("synced_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("segment", name="pk_segment_syncs"),
    )
    op.create_table(
        "segment_snapshots",
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment"],
            ["segment_syncs.segment"],
            name="fk_segment_snapshots_segment_segment_syncs",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_segment_snapshots_customer_id_customers",
        ),
        sa.PrimaryKeyConstraint("segment", "customer_id", name="pk_segment_snapshots"),
    )


def downgrade() -> None:
    op.drop_table("segment_snapshots")
    op.drop_table("segment_syncs")
