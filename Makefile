# The few verbs people type. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-typer-oldest lint docs dist bench bench-quick bench-serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## tmux gives the tests a real terminal; scripts/ensure-tmux installs it when missing.
install: $(STAMP)
	-@scripts/ensure-tmux
	@echo "kpictl is installed in $(BIN): run $(BIN)/kpictl, or 'source $(BIN)/activate' to put it on PATH"

## The main job on the embedded SQLite default (kpictl.db in this directory): validate and
## seed ranges/, show data-center's ranges, prove isolation, import sample values, score.
demo: install
	$(BIN)/kpictl validate
	$(BIN)/kpictl seed --all
	$(BIN)/kpictl list --customer data-center
	$(BIN)/kpictl verify-isolation
	$(BIN)/kpictl observations import samples/observations.csv
	$(BIN)/kpictl score data-center
	$(BIN)/kpictl score --all
	@echo "kpictl is installed in $(BIN): run $(BIN)/kpictl, or 'source $(BIN)/activate' to put it on PATH"

## The whole suite: lint, types, tests on SQLite and PostgreSQL (see README for how long it
## takes). One line per test file with its progress, then the skips with their reasons (-ra
## in pyproject.toml) and the ten slowest tests.
test: install
	$(BIN)/ruff check kpictl tests benchmarks tools
	$(BIN)/ruff format --check kpictl tests benchmarks tools
	$(BIN)/mypy kpictl benchmarks tools
	$(BIN)/pytest --durations=10

## The CLI tests under the oldest Typer that pyproject.toml allows (typer>=TYPER_OLDEST),
## in a venv of their own; `make test` runs them under the newest. The help layout is
## Typer's own and changes between releases: the reference in docs/ is generated with the
## newest, so the three checks of the help texts against that page are left out here.
## .ci/run runs this after `make test`.
TYPER_OLDEST := $(shell sed -n 's/^ *"typer>=\([0-9.]*\).*/\1/p' pyproject.toml)
OLDEST_VENV := .venv-typer-oldest
test-typer-oldest:
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet -e '.[dev]' 'typer==$(TYPER_OLDEST)'
	$(OLDEST_VENV)/bin/python -c 'import typer; assert typer.__version__ == "$(TYPER_OLDEST)"'
	$(OLDEST_VENV)/bin/pytest -q -p no:cacheprovider tests/cli \
		--deselect tests/cli/test_docs.py::test_the_reference_is_up_to_date \
		--deselect tests/cli/test_docs.py::test_every_command_has_its_own_page_and_it_is_up_to_date \
		--deselect tests/cli/test_docs.py::test_every_help_text_is_committed_once_under_docs

lint: install
	$(BIN)/ruff check --fix kpictl tests benchmarks tools
	$(BIN)/ruff format kpictl tests benchmarks tools

## Regenerate what is generated: the command reference and the JSON Schemas.
docs: install
	$(BIN)/python tools/gen_docs.py
	$(BIN)/kpictl schema --output-dir schemas

## The wheel and the sdist, in dist/.
dist: install
	rm -rf dist
	$(BIN)/python -m build

## The benchmark at full size (PostgreSQL at 127.0.0.1); bench-quick for a smoke run.
## benchmarks/ and tools/ are developer programs, not part of the package.
bench: install
	$(BIN)/python -m benchmarks
	$(BIN)/python benchmarks/serve_load.py

## The tenant read API under load alone (PostgreSQL, 10,000 customers, 32 clients, 20 s).
bench-serve: install
	$(BIN)/python benchmarks/serve_load.py

bench-quick: install
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build dist *.egg-info kpictl.db .pytest_cache .mypy_cache .ruff_cache
