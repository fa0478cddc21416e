"""Initial partner schema: partners and webhook deliveries, plus the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

from shared.migrations import create_platform_tables, drop_platform_tables
from subgraphs.partner.models import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    Base.metadata.create_all(bind)
    create_platform_tables(bind)


def downgrade() -> None:
    bind = op.get_bind()
    drop_platform_tables(bind)
    Base.metadata.drop_all(bind)
