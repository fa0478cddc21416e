"""The router as `finpace serve router` builds it for the platform (dev token validation), for the benchmark.

Its own module, importing only what `finpace serve router` imports, so that start-up is measured fairly.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette

# Where the router process finds the platform's dev settings (its JWKS lives in the data directory).
DATA_DIR_ENV = "FINPACE_BENCH_DATA_DIR"


def router_app() -> Starlette:
    """uvicorn --factory entry: the router with the platform's dev token validation (FINPACE_BENCH_DATA_DIR)."""
    from router.app import create_app
    from router.config import RouterSettings
    from shared.cli import router_token_validator
    from shared.config import Profile, Settings

    settings = Settings(profile=Profile.DEV, data_dir=Path(os.environ[DATA_DIR_ENV]), log_json=False)
    return create_app(RouterSettings(), token_validator=router_token_validator(settings))
