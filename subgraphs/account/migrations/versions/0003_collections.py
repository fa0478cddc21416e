"""Collections requested by the lending domains: repayment debits, one booking per idempotency_id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from alembic import op

from subgraphs.account.models import Collection

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    Collection.__table__.create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


def downgrade() -> None:
    Collection.__table__.drop(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]
