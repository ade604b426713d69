# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: specs demo test check lint types imports unit test-slow cassettes bench lock clean sandbox browser \
	image image-test

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip==26.3'
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# `make demo FLAVOR=datacenter` runs it against a sandbox acting as Data Center.
FLAVOR ?= cloud
demo: $(STAMP)
	$(BIN)/python -m followup.commands.demo --flavor $(FLAVOR)

sandbox: $(STAMP)
	$(BIN)/followup sandbox

test: check unit

check: lint types imports

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

# The layer contracts in pyproject.toml ([tool.importlinter]); docs/architecture.md.
imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP) browser
	$(BIN)/pytest -q

# tests/test_browser.py drives Debian's headless Chromium. Install it only when it is
# missing and we are root (CI); otherwise the test says why it cannot run (and fails
# when CI is set).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    || echo "could not install chromium: tests/test_browser.py will fail under CI"; \
	fi

# The container image (docs/deploy.md): `make image` builds $(IMAGE) from deploy/Dockerfile
# with podman (Docker where a Docker daemon answers); `make image-test` runs it as the
# CronJobs in deploy/kubernetes do, against the sandbox on this host, and inspects its
# files. As root they install what the host lacks (podman, runc, debootstrap) from
# Debian's packages. Not part of `make test`: a first build takes minutes.
IMAGE ?= followup:dev
ENGINE ?=
PYTHON_IMAGE ?=
IMAGE_ARGS = --image $(IMAGE) $(if $(ENGINE),--engine $(ENGINE)) $(if $(PYTHON_IMAGE),--base $(PYTHON_IMAGE))

image: $(STAMP)
	$(BIN)/python deploy/image.py build $(IMAGE_ARGS)

image-test: image
	$(BIN)/python deploy/image.py test $(IMAGE_ARGS)

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
	rm -rf $(VENV) .followup .pytest_cache .mypy_cache .ruff_cache .image deploy/wheels/*.whl

# Atlassian's OpenAPI documents, which the tests check the sandbox's answers against, for
# a checkout without ../shared/specs beside it. They are Atlassian's: downloaded, not kept.
SPECS := .followup/specs
specs:
	mkdir -p $(SPECS)
	curl -fsSL -o $(SPECS)/jira-platform-v3.openapi.json https://developer.atlassian.com/cloud/jira/platform/swagger-v3.v3.json
	curl -fsSL -o $(SPECS)/confluence-v1.openapi.json https://developer.atlassian.com/cloud/confluence/swagger.v3.json
	curl -fsSL -o $(SPECS)/confluence-v2.openapi.json https://dac-static.atlassian.com/cloud/confluence/openapi-v2.v3.json
