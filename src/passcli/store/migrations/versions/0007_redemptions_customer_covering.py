"""On PostgreSQL, the per-customer redemptions index also carries `pass` and `points`.

PostgreSQL's planner probes `ix_redemptions_customer (customer_id, redeemed_at)` to check
"no redemption of this pass yet" for each active holder (no-redemptions-yet: 248k holders at
1M customers), then reads a table row per redemption for `pass`. With the two columns in the
index (INCLUDE: stored in the leaves, not part of the key, so the index still serves one
customer's redemptions in time order) the probe is index-only: 1,230 -> 958 ms at 1M
customers (docs/benchmarks.md). SQLite has no INCLUDE and already picks the covering
`ix_redemptions_pass_customer` there: its index is left as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME = "ix_redemptions_customer"
COLUMNS = ["customer_id", "redeemed_at"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="redemptions")
    op.create_index(
        NAME, "redemptions", COLUMNS, unique=False, postgresql_include=["pass", "points"]
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="redemptions")
    op.create_index(NAME, "redemptions", COLUMNS, unique=False)
