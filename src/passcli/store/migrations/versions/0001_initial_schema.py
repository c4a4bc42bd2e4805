"""Initial schema: customers, consent history, items, purchases, redemptions, events.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import passcli.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("first_name", sa.String(), nullable=True),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("created_at", passcli.store.types.UtcInstant(), nullable=True),
        sa.Column("email_opt_in", sa.Boolean(), nullable=False),
        sa.Column("sms_opt_in", sa.Boolean(), nullable=False),
        sa.Column("email_consent_source", sa.String(), nullable=True),
        sa.Column("sms_consent_source", sa.String(), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("ix_customers_email", ["email"], unique=False)
        batch_op.create_index("ix_customers_phone", ["phone"], unique=False)

    op.create_table(
        "items",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
    )
    op.create_table(
        "consent_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("at", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_consent_changes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_changes")),
    )
    with op.batch_alter_table("consent_changes", schema=None) as batch_op:
        batch_op.create_index("ix_consent_changes_customer", ["customer_id", "at"], unique=False)

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("ts", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("received_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_events_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("message_id", name=op.f("uq_events_message_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_customer_ts", ["customer_id", "ts"], unique=False)
        batch_op.create_index(
            "ix_events_event_customer_ts", ["event", "customer_id", "ts"], unique=False
        )
        batch_op.create_index(
            "ix_events_event_ts_customer", ["event", "ts", "customer_id"], unique=False
        )

    op.create_table(
        "purchases",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("item", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("purchased_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("expires_at", passcli.store.types.UtcInstant(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_purchases_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["item"], ["items.id"], name=op.f("fk_purchases_item_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_purchases_customer", ["customer_id", "purchased_at"], unique=False
        )
        batch_op.create_index("ix_purchases_item_customer", ["item", "customer_id"], unique=False)
        batch_op.create_index(
            "ix_purchases_item_purchased",
            ["item", "purchased_at", "status", "expires_at", "customer_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_purchases_item_status_expires",
            ["item", "status", "expires_at", "customer_id"],
            unique=False,
        )

    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("pass", sa.String(), nullable=False),
        sa.Column("location", sa.String(), nullable=True),
        sa.Column("redeemed_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_redemptions_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemptions")),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_redemptions_customer", ["customer_id", "redeemed_at"], unique=False
        )
        batch_op.create_index(
            "ix_redemptions_pass_customer",
            ["pass", "customer_id", "redeemed_at", "points"],
            unique=False,
        )

    op.create_table(
        "event_numbers",
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("ts", passcli.store.types.UtcInstant(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["events.message_id"],
            name=op.f("fk_event_numbers_message_id_events"),
        ),
        sa.PrimaryKeyConstraint("message_id", "name", name=op.f("pk_event_numbers")),
    )
    with op.batch_alter_table("event_numbers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_numbers_lookup", ["event", "name", "customer_id", "ts", "value"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("event_numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_event_numbers_lookup")

    op.drop_table("event_numbers")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_redemptions_pass_customer")
        batch_op.drop_index("ix_redemptions_customer")

    op.drop_table("redemptions")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_purchases_item_status_expires")
        batch_op.drop_index("ix_purchases_item_purchased")
        batch_op.drop_index("ix_purchases_item_customer")
        batch_op.drop_index("ix_purchases_customer")

    op.drop_table("purchases")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_event_ts_customer")
        batch_op.drop_index("ix_events_event_customer_ts")
        batch_op.drop_index("ix_events_customer_ts")

    op.drop_table("events")
    with op.batch_alter_table("consent_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_changes_customer")

    op.drop_table("consent_changes")
    op.drop_table("items")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_phone")
        batch_op.drop_index("ix_customers_email")

    op.drop_table("customers")
