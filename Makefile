# Two entry points for a fresh machine (see README.md):
#   make demo   install into .venv, then train a sample model, convert it to every format,
#               verify each artifact, benchmark, and print the report's path
#   make test   install into .venv, then run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo lint test test-fast docs

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m modelport demo

lint: install
	$(BIN)/python -m ruff check .

# pytest exits 5 when it collects no tests (e.g. a -k that matches nothing): not a failure here.
test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not packaging" $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

docs: install
	$(BIN)/python scripts/gen_docs.py
