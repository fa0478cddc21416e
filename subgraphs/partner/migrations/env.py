"""Alembic environment of the partner database."""

from shared.migrations import run_env
from subgraphs.partner.models import Base

run_env(Base.metadata)
