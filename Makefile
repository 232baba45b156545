# The few verbs people type. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded SQLite default (kpictl.db in this directory).
demo: install
	$(BIN)/kpictl validate
	$(BIN)/kpictl seed --all
	$(BIN)/kpictl list --customer data-center

## The whole suite: lint, types, tests on SQLite and PostgreSQL.
test: install
	$(BIN)/ruff check kpictl tests
	$(BIN)/ruff format --check kpictl tests
	$(BIN)/mypy kpictl
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check --fix kpictl tests
	$(BIN)/ruff format kpictl tests

clean:
	rm -rf $(VENV) build dist *.egg-info kpictl.db .pytest_cache .mypy_cache .ruff_cache
