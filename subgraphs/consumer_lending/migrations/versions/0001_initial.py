"""Initial consumer lending schema, the first decision policy and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op
from sqlalchemy import insert

from shared.migrations import create_platform_tables, drop_platform_tables
from subgraphs.consumer_lending.models import Base, DecisionPolicy

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The first policy, as data (a copy: later code changes must not rewrite history).
POLICY_VERSION = "CL-2026.1"
POLICY = {
    "score_bands": [
        {"min": 0, "max": 549, "outcome": "DECLINE", "reason": "SCORE_BELOW_CUTOFF"},
        {"min": 550, "max": 649, "outcome": "REFER", "reason": "SCORE_IN_REFER_BAND"},
        {"min": 650, "max": 999, "outcome": "APPROVE", "reason": None},
    ],
    "refer_affordability_ratio": "0.35",
    "max_affordability_ratio": "0.45",
    "exposure_caps": {"EUR": "50000.00", "GBP": "45000.00", "USD": "55000.00"},
    "default_exposure_cap": "25000.00",
}


def upgrade() -> None:
    bind = op.get_bind()
    Base.metadata.create_all(bind)
    create_platform_tables(bind)
    bind.execute(insert(DecisionPolicy).values(version=POLICY_VERSION, rules=POLICY, active=True))


def downgrade() -> None:
    bind = op.get_bind()
    drop_platform_tables(bind)
    Base.metadata.drop_all(bind)
