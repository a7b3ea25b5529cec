# Tessera: the daily verbs. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# the venv is rebuilt only when pyproject.toml changes
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml 2>/dev/null | cut -c1-12)

CUSTOMERS ?= 5000
SEED      ?= 42

export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export RUNTIME__DLTHUB_TELEMETRY := false
export TESSERA_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(TESSERA_DATA_DIR)/dagster

.PHONY: help install manifest demo run test test-fast ui mlflow-ui dbt-docs bench lint clean

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)  ## create the virtualenv (cached until pyproject.toml changes)

manifest: install  ## compile config/ into dbt files and parse the dbt manifest
	$(BIN)/tessera compile --parse

demo: install  ## generate the demo company (CUSTOMERS=5000) and run the whole graph on it
	$(BIN)/tessera demo run --customers $(CUSTOMERS) --seed $(SEED)

run: install  ## run the whole graph on your own configured sources
	$(BIN)/tessera run

test: install  ## run the test suite
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: install  ## unit tests only
	$(BIN)/python -m pytest -q -m "not e2e" tests/unit

ui: manifest  ## the Dagster web UI on http://127.0.0.1:3000
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || $(BIN)/python -c "from tessera.runner import ensure_dagster_home; ensure_dagster_home()"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

mlflow-ui: install  ## the MLflow UI on http://127.0.0.1:5000
	@mkdir -p $(TESSERA_DATA_DIR)/mlflow
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(TESSERA_DATA_DIR)/mlflow/mlflow.db \
		--default-artifact-root $(TESSERA_DATA_DIR)/mlflow/artifacts --host 127.0.0.1 --port 5000

dbt-docs: manifest  ## build and serve the dbt docs on http://127.0.0.1:8080
	cd dbt_project && TESSERA_WAREHOUSE=$(TESSERA_DATA_DIR)/warehouse.duckdb ../$(BIN)/dbt docs generate --profiles-dir .
	cd dbt_project && ../$(BIN)/dbt docs serve --profiles-dir . --host 127.0.0.1 --port 8080

bench: install  ## run the whole graph at 10k and 100k customers; print stage times and peak memory
	$(BIN)/python benchmarks/pipeline.py --customers 10000 100000

lint: install  ## ruff on Python
	$(BIN)/ruff check tessera dagster_project ml tests benchmarks

clean:  ## remove generated data (keeps the virtualenv)
	rm -rf data dbt_project/target dbt_project/logs
