"""Alembic environment of the corporate lending database."""

from shared.migrations import run_env
from subgraphs.corporate_lending.models import Base

run_env(Base.metadata)
