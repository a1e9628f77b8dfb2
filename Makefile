# The two commands of the README: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-sqlite test-postgres test-browser setup assets instance lint bench bench-scale bench-targets clean-assets

run: setup instance
	PORTAL_DEVELOPMENT=1 $(BIN)/flask --app portal first-run-link --base-url http://$(HOST):$(PORT)
	PORTAL_DEVELOPMENT=1 $(BIN)/python scripts/run_dev.py --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python scripts/ensure_chromium.py
	$(BIN)/python scripts/run_tests.py

setup: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json $(VENV)/.installed
	$(BIN)/npm install --no-audit --no-fund --loglevel=error
	touch $@

assets: static/dist/portal.css

static/dist/portal.css: node_modules/.installed scripts/build_assets.py $(wildcard static/src/*.scss) $(wildcard static/src/*.js)
	$(BIN)/python scripts/build_assets.py

instance: $(VENV)/.installed
	PORTAL_DEVELOPMENT=1 $(BIN)/python -m portal.ops.instance

lint: $(VENV)/.installed
	$(BIN)/ruff check portal tests scripts bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/run.py

# Pages and maintenance at demo and national size, side by side; ARGS="--database-url URL" for PostgreSQL.
bench-scale: setup
	$(BIN)/python bench/scale.py $(ARGS)

# DESIGN section 8's page targets at national size: saturation vs hello, open-loop p95 at half saturation.
bench-targets: setup
	$(BIN)/python bench/page_targets.py $(ARGS)

clean-assets:
	rm -rf static/dist node_modules/.installed
