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
# SECURE=1 runs it secured: SASL_SSL/SCRAM, ACLs, every service its own principal.
# MONITORING=0 leaves out Jaeger, Prometheus, Alertmanager and the lag exporter.
DURATION ?= 30
NODES ?=
MONITORING ?= 1
demo: install
	$(BIN)/orderstream demo --duration $(DURATION) $(if $(NODES),--nodes $(NODES)) $(if $(SECURE),--secure) \
	  $(if $(filter 0,$(MONITORING)),--no-monitoring,--monitoring)

clean:
	-$(BIN)/orderstream kafka down --purge
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- polyglot examples (examples/): built once, rebuilt only when their inputs change ---------
NODE_CONSUMER := examples/node-consumer
JAVA_PRODUCER := examples/java-producer
NODE_STAMP := $(NODE_CONSUMER)/node_modules/.installed-stamp
JAVA_STAMP := $(JAVA_PRODUCER)/target/.built-stamp

.PHONY: examples
install: examples
examples: $(NODE_STAMP) $(JAVA_STAMP)

$(NODE_STAMP): $(NODE_CONSUMER)/package.json $(NODE_CONSUMER)/package-lock.json
	cd $(NODE_CONSUMER) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(JAVA_STAMP): $(JAVA_PRODUCER)/pom.xml $(shell find $(JAVA_PRODUCER)/src -type f 2>/dev/null)
	cd $(JAVA_PRODUCER) && mvn -q -B -Dstyle.color=never package
	@touch $@

# --- monitoring: Debian's Prometheus (with promtool) and Alertmanager, like chromium ----------
# --no-install-recommends: no node-exporter; the packages' services are not started here.
.PHONY: monitoring-install
install: monitoring-install
monitoring-install:
	@test -x /usr/bin/promtool -a -x /usr/bin/prometheus-alertmanager || \
	  (apt-get update && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)

# --- Jaeger v1.76.0: built once from the Go module proxy into the cache, like the Kafka jars ---
# About 6 minutes on 2 idle cores (21 on a loaded machine), 2.4 GB peak; GOPATH/GOCACHE stay Go's.
.PHONY: jaeger-install
install: jaeger-install
jaeger-install: $(STAMP)
	$(BIN)/orderstream jaeger-install

# The Prometheus JMX exporter agent every Kafka node at the default ports carries: fetched once
# by Maven into the cache (platform/jmx.py), as the Kafka jars are.
.PHONY: jmx-install
install: jmx-install
jmx-install: $(STAMP)
	$(PY) -c 'from orderstream.config import load_settings; from orderstream.platform.jmx import install_agent; print("jmx exporter:", install_agent(load_settings().cache_dir))'
