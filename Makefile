# The two commands: `make demo` and `make test`. Both create .venv and install the
# pinned dependencies on first use: requirements.lock (what the image gets) and
# requirements-dev.lock (tests, lint and type tools on top).
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint install lock bench clean

install: $(STAMP)

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newsmon needs Python 3.11 or newer (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/newsmon demo

# ruff (lint and format) and mypy (strict) over the tree; part of `make test`, and so of CI.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -rs

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py --quick

# Re-pin after changing dependencies in pyproject.toml: the runtime (with the Dask
# extra) first, then what tests, lint and types add on top of it.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install -q --upgrade pip
	.lockenv/bin/python -m pip install -q '.[dask]'
	( echo '# Runtime dependencies, pinned (make lock regenerates this file and requirements-dev.lock).'; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^newsmon' ) > requirements.lock
	.lockenv/bin/python -m pip install -q '.[dask,test,dev]'
	( echo '# Tools for tests, lint and types, pinned; installed on top of requirements.lock.'; \
	  echo '-r requirements.lock'; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^newsmon' \
	    | grep -vxF -f requirements.lock ) > requirements-dev.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache .mypy_cache
