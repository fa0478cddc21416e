"""Hardship arrangement terms: the agreed reduced amount and the instalments and dates an activation covers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# IF NOT EXISTS: 0001 creates the tables from the current models, so a fresh database has them already.
COLUMNS = (("reduced_amount", "NUMERIC(19, 4)"), ("currency", "VARCHAR(3)"), ("first_installment", "INTEGER"),
           ("last_installment", "INTEGER"), ("starts_on", "DATE"), ("ends_on", "DATE"))


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.execute(f"ALTER TABLE hardship_arrangements ADD COLUMN IF NOT EXISTS {name} {type_}")


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE hardship_arrangements DROP COLUMN IF EXISTS {name}")
