# orderstream: `make demo` runs the system, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install kafka-install browser lint test unit demo clean

install: $(STAMP) kafka-install browser

# Re-run pip only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Idempotent: resolves Kafka with Maven only when the cache lacks it.
kafka-install: $(STAMP)
	$(BIN)/orderstream kafka install

# The dashboard tests drive Debian's chromium with Playwright: never a browser download.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy --strict src

# pytest exit code 5 (no tests collected) is a failure: the suite is never empty.
test: install lint
	@set +e; $(BIN)/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The whole pipeline in the background, steady orders through the API with a live summary
# (dashboard: http://127.0.0.1:8088/) for DURATION seconds (default 30), then the audit and
# what to look at next. 'orderstream demo' without --duration runs until Ctrl-C.
# NODES=3 runs it on a 3-node cluster (19092, 29092, 31092; RF 3, min ISR 2).
DURATION ?= 30
NODES ?=
demo: install
	$(BIN)/orderstream demo --duration $(DURATION) $(if $(NODES),--nodes $(NODES))

clean:
	-$(BIN)/orderstream kafka down --purge
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
