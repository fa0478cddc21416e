"""Offers and facilities reference the product version they are sold under (a product subgraph entity).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: 0001 creates the tables from the current models, so a fresh database already has the column.
    for table in ("offers", "facilities"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS product_id UUID")


def downgrade() -> None:
    for table in ("offers", "facilities"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS product_id")
