"""Repayment requests of the repayment saga (one PENDING per drawdown).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op

from subgraphs.corporate_lending.models import RepaymentRequest

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    RepaymentRequest.__table__.create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


def downgrade() -> None:
    RepaymentRequest.__table__.drop(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]
