"""Delivery claims: the SENDING status with a lease, who claimed a message and when, and the due-message index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# IF NOT EXISTS: the first migration creates the tables from the current models, so a database created
# after this change already has the columns; one created before it gains them here.
UPGRADE = (
    "ALTER TABLE notifications ADD COLUMN IF NOT EXISTS claimed_at TIMESTAMP WITH TIME ZONE",
    "ALTER TABLE notifications ADD COLUMN IF NOT EXISTS claimed_by VARCHAR(128)",
    "CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at) "
    "WHERE status IN ('QUEUED', 'SENDING')",
)
# The dispatcher before this change knows no SENDING: in-flight messages go back to QUEUED and are sent
# again, with the same idempotency key.
DOWNGRADE = (
    "UPDATE notifications SET status = 'QUEUED' WHERE status = 'SENDING'",
    "DROP INDEX IF EXISTS notifications_due",
    "ALTER TABLE notifications DROP COLUMN IF EXISTS claimed_by",
    "ALTER TABLE notifications DROP COLUMN IF EXISTS claimed_at",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
