PYTHON ?= python3
export PYTHON

.PHONY: setup report test lint typecheck pytest bench

setup:
	bash scripts/setup.sh dev

## The main job: a diagnosis report of a built-in model (no downloads).
report: setup
	$(PYTHON) -m weight_initialization_system

## Lint, type-check and the test suite.
test: setup lint typecheck pytest

lint:
	$(PYTHON) -m ruff check src tests benchmarks

typecheck:
	$(PYTHON) -m mypy

pytest:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests
