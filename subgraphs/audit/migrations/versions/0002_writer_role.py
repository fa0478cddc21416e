"""The insert-only writer role the audit service runs as: evidence may be read and appended, never changed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from alembic import op

from subgraphs.audit.models import WRITER_ROLE

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The role is cluster-wide (several audit databases may share it), so it is created if missing and never
# dropped here; each database grants it its own tables. The migrating user becomes a member, so the service
# may connect as that user and run as the role (FINPACE_AUDIT_DB_ROLE). A later migration that adds a table
# grants it too (tests/subgraphs/audit/test_privileges.py checks every table).
UPGRADE = (
    f"""DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
        CREATE ROLE {WRITER_ROLE} NOLOGIN;
      END IF;
    END $$""",
    f"GRANT {WRITER_ROLE} TO CURRENT_USER",
    f"GRANT USAGE ON SCHEMA public TO {WRITER_ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {WRITER_ROLE}",
    f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_evidence FROM {WRITER_ROLE}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {WRITER_ROLE}",
)
DOWNGRADE = (
    f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {WRITER_ROLE}",
    f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {WRITER_ROLE}",
    f"REVOKE USAGE ON SCHEMA public FROM {WRITER_ROLE}",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
