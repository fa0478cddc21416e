"""Alembic environment of the account database."""

from shared.migrations import run_env
from subgraphs.account.models import Base

run_env(Base.metadata)
