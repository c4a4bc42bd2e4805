"""Purchase indexes cover purchased_at, so segments stay index-only; the per-customer one
leads with its equality columns.

Every purchase condition also checks purchased_at <= now (records after now do not
count); without the column in the index SQLite read a table row per purchase.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WIDENED = {
    "ix_purchases_customer": (
        ["customer_id", "purchased_at"],
        ["customer_id", "item", "status", "expires_at", "purchased_at"],
    ),
    "ix_purchases_item_customer": (
        ["item", "customer_id"],
        ["item", "customer_id", "purchased_at"],
    ),
    "ix_purchases_item_status_expires": (
        ["item", "status", "expires_at", "customer_id"],
        ["item", "status", "expires_at", "customer_id", "purchased_at"],
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        for name, (_, columns) in WIDENED.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
    # Statistics for the new indexes, so the planner does not guess (sampled: cheap).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA analysis_limit = 1000")
    op.execute("ANALYZE purchases")


def downgrade() -> None:
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        for name, (columns, _) in WIDENED.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
