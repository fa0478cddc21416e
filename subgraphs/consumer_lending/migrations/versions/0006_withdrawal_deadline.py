"""A cooling-off withdrawal has a repayment deadline: loans.withdrawal_repay_by.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: 0001 creates the tables from the current models, so a fresh database has the column.
    op.execute("ALTER TABLE loans ADD COLUMN IF NOT EXISTS withdrawal_repay_by DATE")


def downgrade() -> None:
    op.execute("ALTER TABLE loans DROP COLUMN IF EXISTS withdrawal_repay_by")
