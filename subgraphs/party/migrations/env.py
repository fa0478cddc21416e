"""Alembic environment of the party database."""

from shared.migrations import run_env
from subgraphs.party.models import Base

run_env(Base.metadata)
