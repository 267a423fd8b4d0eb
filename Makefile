# The README's two set-up commands: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck install conformance bench e2e-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/hub serve

# Chromium for the admin-console browser tests (Debian packages; the tests need root or an
# existing install; skipped outside CI only).
e2e-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { (apt-get update -q && apt-get install -y -q chromium chromium-driver) >/dev/null 2>&1 || \
	    echo "could not install chromium (not root?): browser tests will say so"; }

lint: $(STAMP)
	$(BIN)/ruff check hub tests bench
	$(BIN)/ruff format --check hub tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) e2e-deps lint typecheck
	$(BIN)/pytest -q

conformance: $(STAMP)
	$(BIN)/hub conformance run

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
