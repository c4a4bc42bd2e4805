"""Groups, inbound SMS and offers (groups.yaml).

`group_members` holds the members of manual and subscription groups, pending ones (added by
an email or phone that matches no customer yet) included; `inbound_messages` every SMS
received; `offer_uses` every use of an offer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import passcli.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UNMATCHED = sa.text("customer_id IS NULL")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "group_members",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("group_name", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("added_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_group_members_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_group_members"),
        sa.UniqueConstraint("group_name", "customer_id", name="uq_group_members_group_name"),
    )
    op.create_index("ix_group_members_customer", "group_members", ["customer_id", "group_name"])
    op.create_index(
        "uq_group_members_pending",
        "group_members",
        ["group_name", "address"],
        unique=True,
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )
    op.create_index(
        "ix_group_members_pending_address",
        "group_members",
        ["address"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("group_name", sa.String(), nullable=True),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("received_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_inbound_messages_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
        sa.UniqueConstraint("provider_id", name="uq_inbound_messages_provider_id"),
    )
    op.create_index(
        "ix_inbound_messages_customer", "inbound_messages", ["customer_id", "received_at"]
    )
    op.create_index(
        "ix_inbound_messages_unmatched_phone",
        "inbound_messages",
        ["phone"],
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    )
    op.create_table(
        "offer_uses",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("offer", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("used_at", passcli.store.types.UtcInstant(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_offer_uses_customer_id_customers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_offer_uses"),
    )
    op.create_index(
        "ix_offer_uses_offer_customer",
        "offer_uses",
        ["offer", "customer_id", "used_at", "attendees"],
    )
    op.create_index("ix_offer_uses_customer", "offer_uses", ["customer_id", "used_at"])


def downgrade() -> None:
    op.drop_table("offer_uses")
    op.drop_table("inbound_messages")
    op.drop_table("group_members")
