"""Initial product schema: product versions and bundles, the immutability trigger, and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

from shared.migrations import create_platform_tables, drop_platform_tables
from subgraphs.product.models import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The database is the backstop of "a published version is immutable": once a version has left DRAFT,
# its definition columns can never change again, whatever code runs against the table.
IMMUTABLE = ["""
CREATE FUNCTION products_refuse_definition_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'DRAFT' AND (
       NEW.code, NEW.version, NEW.family, NEW.name, NEW.description, NEW.currency, NEW.terms,
       NEW.eligible_segments, NEW.supersedes_version
     ) IS DISTINCT FROM (
       OLD.code, OLD.version, OLD.family, OLD.name, OLD.description, OLD.currency, OLD.terms,
       OLD.eligible_segments, OLD.supersedes_version
     ) THEN
    RAISE EXCEPTION 'product % v% is %: its definition is immutable', OLD.code, OLD.version, OLD.status
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""", """
CREATE TRIGGER products_immutable BEFORE UPDATE ON products
  FOR EACH ROW EXECUTE FUNCTION products_refuse_definition_change()""", """
CREATE FUNCTION products_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status <> 'DRAFT' THEN
    RAISE EXCEPTION 'product % v% is %: it cannot be deleted', OLD.code, OLD.version, OLD.status
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN OLD;
END $$""", """
CREATE TRIGGER products_no_delete BEFORE DELETE ON products
  FOR EACH ROW EXECUTE FUNCTION products_refuse_delete()"""]


def upgrade() -> None:
    bind = op.get_bind()
    Base.metadata.create_all(bind)
    create_platform_tables(bind)
    for statement in IMMUTABLE:  # one statement per call: asyncpg prepares each
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DROP TRIGGER IF EXISTS products_no_delete ON products")
    op.execute("DROP TRIGGER IF EXISTS products_immutable ON products")
    op.execute("DROP FUNCTION IF EXISTS products_refuse_delete()")
    op.execute("DROP FUNCTION IF EXISTS products_refuse_definition_change()")
    drop_platform_tables(bind)
    Base.metadata.drop_all(bind)
