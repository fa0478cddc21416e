"""The read model of product versions on sale: an offer names a version this domain has seen published.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from alembic import op

from subgraphs.corporate_lending.models import ProductVersion

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # checkfirst: 0001 creates the tables from the current models, so a fresh database has it already.
    ProductVersion.__table__.create(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]


def downgrade() -> None:
    ProductVersion.__table__.drop(op.get_bind(), checkfirst=True)  # type: ignore[attr-defined]
