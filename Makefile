# The interpreter every target uses: $PYTHON if given (make PYTHON=...), else python3 -- or ./.venv/bin/python
# when python3 is an externally managed system Python (PEP 668) and no virtual environment is active; `make
# setup` creates that .venv. scripts/setup.sh decides, and re-installs only when pyproject.toml changed.
ifndef PYTHON
PYTHON := $(shell bash scripts/setup.sh --print-python)
endif
export PYTHON

PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider

.PHONY: setup report test test-fast lint typecheck pytest pytest-fast

setup:
	@bash scripts/setup.sh dev

## The main job: a diagnosis report of a built-in model (no downloads).
report: setup
	$(PYTHON) -m weight_initialization_system report mlp --out report.html

## Lint, type-check and the whole test suite, doctests included (what CI runs).
test: setup lint typecheck pytest

## The edit loop: lint, type-check and every test not marked slow.
test-fast: setup lint typecheck pytest-fast

lint:
	$(PYTHON) -m ruff check src tests benchmarks

typecheck:
	$(PYTHON) -m mypy

pytest:
	$(PYTEST)

pytest-fast:
	$(PYTEST) -m "not slow"
