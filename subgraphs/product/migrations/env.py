"""Alembic environment of the product database."""

from shared.migrations import run_env
from subgraphs.product.models import Base

run_env(Base.metadata)
