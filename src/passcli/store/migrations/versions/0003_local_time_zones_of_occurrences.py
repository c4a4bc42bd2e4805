"""Local-time occurrences, zone by zone: occurrence_zones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import passcli.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "occurrence_zones",
        sa.Column(
            "occurrence_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("zone", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("due_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("at", passcli.store.types.UtcInstant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["occurrences.id"],
            name=op.f("fk_occurrence_zones_occurrence_id_occurrences"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_occurrence_zones_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("occurrence_id", "zone", name=op.f("pk_occurrence_zones")),
    )


def downgrade() -> None:
    op.drop_table("occurrence_zones")
