"""Disbursements requested by the lending domains (one booking per idempotency_id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

from subgraphs.account.models import Disbursement

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    Disbursement.__table__.create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


def downgrade() -> None:
    Disbursement.__table__.drop(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]
