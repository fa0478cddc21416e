"""Alembic environment of the audit database."""

from shared.migrations import run_env
from subgraphs.audit.models import Base

run_env(Base.metadata)
