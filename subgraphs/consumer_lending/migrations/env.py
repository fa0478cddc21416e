"""Alembic environment of the consumer lending database."""

from shared.migrations import run_env
from subgraphs.consumer_lending.models import Base

run_env(Base.metadata)
