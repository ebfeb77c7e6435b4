# neighborgrid: `make run` serves the demo on the embedded SpatiaLite default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
HOST ?= 127.0.0.1
PORT ?= 8000
export NEIGHBORGRID_DEMO_PASSWORD ?= demo-password

.PHONY: run test setup system-deps system-test-deps assets db demo lint bench clean

run: setup db demo
	@echo ""
	@echo "neighborgrid demo:   http://$(HOST):$(PORT)/"
	@echo "API docs:            http://$(HOST):$(PORT)/docs"
	@echo "demo logins (demo only!): admin, dispatcher, planner, volunteer1, gridworker1, resident1, dept_zjj"
	@echo "                     password: $$NEIGHBORGRID_DEMO_PASSWORD"
	@echo ""
	$(BIN)/neighborgrid serve --host $(HOST) --port $(PORT)

test: setup system-test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: system-deps $(STAMPS)/venv $(STAMPS)/assets

system-deps:
	@scripts/system-deps.sh runtime

system-test-deps:
	@scripts/system-deps.sh test || echo "(some test dependencies are missing; those tests will be skipped)"

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

$(STAMPS)/assets: map_ui/package.json map_ui/package-lock.json map_ui/vendor.py
	@mkdir -p $(STAMPS)
	cd map_ui && SCARF_ANALYTICS=false npm ci --no-audit --no-fund --silent
	$(BIN)/python -m map_ui.vendor
	@touch $@

assets: $(STAMPS)/assets

db: setup
	$(BIN)/neighborgrid db upgrade

demo: db
	$(BIN)/neighborgrid load-demo --if-empty

lint: setup
	$(BIN)/ruff check geo service map_ui tests bench fixtures
	$(BIN)/ruff format --check geo service map_ui tests bench fixtures
	$(BIN)/mypy

clean:
	rm -rf $(STAMPS) neighborgrid.db neighborgrid.db-wal neighborgrid.db-shm
