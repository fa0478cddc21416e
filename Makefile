# Finpace developer entry points. `make up` and `make test` bootstrap .venv themselves:
# a fresh machine needs only python3 (3.11+), pip and make.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.finpace-installed
APOLLO := tests/router/apollo
GRAPHIQL := router/graphiql_assets

.DEFAULT_GOAL := help
.PHONY: help venv up test lint bench fuzz compose lock clean clean-data

help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Finpace needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Reinstall only when the dependency declarations change. Install from the lock (not `sync`,
# which would remove uv itself from the venv), then the project in editable mode without deps.
$(STAMP): pyproject.toml requirements.lock | $(UV)
	$(UV) pip install --python $(BIN)/python -r requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	@touch $@

venv: $(STAMP) ## Create or refresh .venv from requirements.lock.

up: $(STAMP) ## Run the whole platform (embedded PostgreSQL and NATS unless FINPACE_*_URL are set).
	@if [ -f $(GRAPHIQL)/package.json ] && [ ! -d $(GRAPHIQL)/node_modules ] && command -v npm >/dev/null; then \
		(cd $(GRAPHIQL) && npm ci --no-audit --no-fund); \
	fi
	$(BIN)/finpace up

# Test files are spread over TEST_WORKERS pytest-xdist processes (auto: one per CPU, at most 4); each file stays
# on one worker, and each worker starts its own embedded servers. TEST_WORKERS=0 runs everything in one process.
# A worker ended by a hung test is not replaced: with --dist loadfile its replacement would be handed the same
# test again, crash again, and so on; the run stops instead, naming the test.
TEST_WORKERS ?= auto
test: $(STAMP) ## Run the whole test suite (real PostgreSQL and NATS, embedded by default).
	@if [ -f $(APOLLO)/package.json ] && [ ! -d $(APOLLO)/node_modules ] && command -v npm >/dev/null; then \
		(cd $(APOLLO) && npm ci --no-audit --no-fund); \
	fi
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile --max-worker-restart 0

lint: $(STAMP) ## Lint with ruff.
	$(BIN)/ruff check .

BENCH_ARGS ?=
bench: $(STAMP) ## Run every benchmark in tests/perf and print its figures (BENCH_ARGS=--write updates docs/).
	@if [ -f $(APOLLO)/package.json ] && [ ! -d $(APOLLO)/node_modules ] && command -v npm >/dev/null; then \
		(cd $(APOLLO) && npm ci --no-audit --no-fund); \
	fi
	$(BIN)/python -m pytest tests/perf -s -p no:cacheprovider
	$(BIN)/python -m tests.perf.bench_router $(BENCH_ARGS)
	$(BIN)/python -m tests.perf.bench_audit
	$(BIN)/python -m tests.perf.bench_notification

FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP) ## Fuzz every subgraph and the router with FUZZ_EXAMPLES cases per root field (the suite runs a few).
	FINPACE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -s -p no:cacheprovider --timeout 0

compose: $(STAMP) ## Recompose schema/supergraph.graphql from the subgraph snapshots.
	$(BIN)/finpace compose

lock: | $(UV) ## Regenerate requirements.lock from pyproject.toml (commit the result).
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--no-header --quiet -o requirements.lock
	@rm -f $(STAMP)

clean: ## Remove .venv, caches and build output (keeps the data in .finpace/).
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -not -path './node_modules/*' -exec rm -rf {} +

clean-data: ## Delete the local data directory .finpace/ (databases, streams, logs, dev keys).
	rm -rf .finpace
