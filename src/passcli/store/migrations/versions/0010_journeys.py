"""Journeys (journeys.yaml, SPEC §7).

`journey_states` records when run-due first saw each journey (and when it was removed);
`journey_slots` the entry slots taken; `journey_entries` one row per customer and entry, with
the step to run next and when to look again; `journey_steps` what each step did, once per
entry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import passcli.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = passcli.store.types.UtcInstant


def upgrade() -> None:
    op.create_table(
        "journey_states",
        sa.Column("journey", sa.String(), nullable=False),
        sa.Column("first_seen_at", INSTANT(), nullable=False),
        sa.Column("removed_at", INSTANT(), nullable=True),
        sa.PrimaryKeyConstraint("journey", name="pk_journey_states"),
    )
    op.create_table(
        "journey_slots",
        sa.Column("journey", sa.String(), nullable=False),
        sa.Column("slot", sa.String(), nullable=False),
        sa.Column("zone", sa.String(), nullable=False),
        sa.Column("at", INSTANT(), nullable=False),
        sa.PrimaryKeyConstraint("journey", "slot", "zone", name="pk_journey_slots"),
    )
    op.create_table(
        "journey_entries",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("journey", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("wake_at", INSTANT(), nullable=True),
        sa.Column("waiting_since", INSTANT(), nullable=True),
        sa.Column("base_at", INSTANT(), nullable=True),
        sa.Column("entered_at", INSTANT(), nullable=False),
        sa.Column("updated_at", INSTANT(), nullable=False),
        sa.Column("ended_at", INSTANT(), nullable=True),
        sa.Column("end_reason", sa.String(), nullable=True),
        sa.Column("converted_at", INSTANT(), nullable=True),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_journey_entries_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_journey_entries"),
        sa.UniqueConstraint("journey", "customer_id", "number", name="uq_journey_entries_journey"),
    )
    op.create_index("ix_journey_entries_due", "journey_entries", ["journey", "status", "wake_at"])
    op.create_index("ix_journey_entries_step", "journey_entries", ["journey", "step", "status"])
    op.create_index(
        "ix_journey_entries_customer", "journey_entries", ["customer_id", "journey", "number"]
    )
    op.create_table(
        "journey_steps",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("entry_id", ROW_ID, nullable=False),
        sa.Column("journey", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("send_key", sa.String(), nullable=True),
        sa.Column("at", INSTANT(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journey_entries.id"], name="fk_journey_steps_entry_id_journey_entries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_journey_steps"),
        sa.UniqueConstraint("entry_id", "step", name="uq_journey_steps_entry_id"),
    )
    op.create_index("ix_journey_steps_journey", "journey_steps", ["journey", "step", "outcome"])


def downgrade() -> None:
    op.drop_table("journey_steps")
    op.drop_table("journey_entries")
    op.drop_table("journey_slots")
    op.drop_table("journey_states")
