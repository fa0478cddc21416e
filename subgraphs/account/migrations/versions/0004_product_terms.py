"""The product read model keeps each version's terms (pricing, charges, lending) as ProductVersionPublished carries them.

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
    op.execute("ALTER TABLE product_versions ADD COLUMN IF NOT EXISTS terms JSONB")


def downgrade() -> None:
    op.execute("ALTER TABLE product_versions DROP COLUMN IF EXISTS terms")
