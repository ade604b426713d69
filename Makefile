# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint types unit test-slow cassettes bench lock clean sandbox

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip==26.3'
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m followup.demo

sandbox: $(STAMP)
	$(BIN)/followup sandbox

test: check unit

check: lint types

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

cassettes: $(STAMP)
	FOLLOWUP_RECORD_CASSETTES=1 $(BIN)/pytest -q tests/test_cassettes.py

bench: $(STAMP)
	$(BIN)/python bench/extract_bench.py

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > requirements.lock.new
	( echo "# Exact versions for a reproducible install: pip install -c requirements.lock -e '.[dev]'"; \
	  echo "# Regenerate with 'make lock' after changing dependencies in pyproject.toml."; \
	  cat requirements.lock.new ) > requirements.lock && rm requirements.lock.new

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .followup .pytest_cache .mypy_cache .ruff_cache
