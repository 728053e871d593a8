# Two commands for a new user: `make demo` and `make test`. Each creates .venv,
# installs everything, initializes MLOPS_HOME and runs. Nothing else is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MLOPS_HOME ?= $(CURDIR)/.mlops

export MLOPS_HOME
export AIRFLOW_HOME ?= $(MLOPS_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(AIRFLOW_HOME)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv init demo test lint typecheck unit up serve clean ui ui-check browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv==0.13.8

$(VENV)/.installed: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.txt -e .
	# The editable build leaves plugins/airflow_mlops.egg-info on sys.path: a second copy of the
	# distribution, whose airflow.plugins entry point Airflow would load twice ("already registered").
	rm -rf plugins/*.egg-info
	touch $@

venv: $(VENV)/.installed

init: venv  ## create MLOPS_HOME: Airflow's DB, MLflow's DB, the migrated MLOps store
	$(BIN)/airflow-mlops init

demo: init  ## the whole lifecycle, headless, on the embedded default
	$(BIN)/airflow-mlops demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (Playwright's own browser downloads are never used).
# Installed here when absent and we are root (CI containers); otherwise those tests skip, saying why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver (browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium is absent and cannot be installed here (not root): the browser tests will skip"; fi

test: init lint typecheck ui-check browser  ## everything CI runs
	$(BIN)/pytest

up: init  ## Airflow standalone with the plugin mounted (UI, API and predictions on one port)
	$(BIN)/airflow-mlops up

serve: init  ## the prediction/management app alone under uvicorn
	$(BIN)/airflow-mlops serve

CONSOLE_BUNDLE := plugins/airflow_mlops/serving/static/console/main.umd.js

ui:  ## rebuild the console (ui/) into the committed bundle; needs Node.js 20 and npm
	cd ui && npm ci --no-audit --no-fund && npm run build

ui-check:  ## the committed console bundle is what ui/ builds (same bytes)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd ui && npm ci --no-audit --no-fund --loglevel=error && MLOPS_CONSOLE_OUT_DIR="$$tmp" npm run --silent build >/dev/null) && \
	if cmp -s "$$tmp/main.umd.js" $(CONSOLE_BUNDLE); then echo "console bundle up to date"; \
	else echo "$(CONSOLE_BUNDLE) is not what ui/ builds: run 'make ui' and commit the bundle" >&2; exit 1; fi

clean:
	rm -rf $(MLOPS_HOME) .pytest_cache .mypy_cache .ruff_cache
