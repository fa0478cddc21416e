"""Loans are sold under product versions of the product directory: its read model, and the version on quotes and loans.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from alembic import op

from subgraphs.consumer_lending.models import ProductVersion

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # checkfirst / IF NOT EXISTS: 0001 creates the tables from the current models, so a fresh database has them.
    ProductVersion.__table__.create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]
    for table in ("quotes", "loans"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS product_id UUID")


def downgrade() -> None:
    for table in ("quotes", "loans"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS product_id")
    ProductVersion.__table__.drop(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]
