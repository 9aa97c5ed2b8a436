# One entry point for people and CI: `make demo`, `make test`, `make bench`.
VENV ?= .venv
PY := $(VENV)/bin/python
UV := python3 -m uv
WORKFLOWS ?= 200
CHART_DASHBOARDS := deploy/helm/write-batcher/dashboards
CHART_RULES := deploy/helm/write-batcher/rules
SYSTEM_TOOLS := promtool docker-compose

.PHONY: venv demo test lint tools bench faults chart-dashboards chart-rules chart-files images version clean

# Creates .venv from uv.lock (installing uv itself first when it is missing).
$(VENV)/.installed: pyproject.toml */pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

venv: $(VENV)/.installed

# The embedded default: Temporal dev server + PostgreSQL + both workers, N payments, a report.
demo: venv
	$(PY) -m devstack demo --workflows $(WORKFLOWS)

# System packages some tests need (promtool, docker-compose); installed when missing and possible.
tools:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus docker-compose >/dev/null; \
		else echo "missing$$missing: tests that need them are skipped outside CI"; fi; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: venv tools lint
	$(PY) -m pytest

bench: venv
	$(PY) -m bench

# The README's fault table: its tests with FAULT_REPORT, then the table from the report.
faults: venv tools
	rm -f docs/fault-report.jsonl
	FAULT_REPORT=$(CURDIR)/docs/fault-report.jsonl $(PY) -m pytest -q $$($(PY) -m tests.support.fault_table --tests)
	$(PY) -m tests.support.fault_table

# Helm's .Files cannot read outside the chart: copy the Grafana dashboards into it.
chart-dashboards:
	mkdir -p $(CHART_DASHBOARDS)
	find $(CHART_DASHBOARDS) -name '*.json' -delete
	if ls deploy/grafana/dashboards/*.json >/dev/null 2>&1; then \
		cp deploy/grafana/dashboards/*.json $(CHART_DASHBOARDS)/; fi

# Helm's .Files cannot read outside the chart either: the alert rules for the PrometheusRule,
# and (chart-files) the demo's table spec, the chart's default `tables`.
chart-rules:
	mkdir -p $(CHART_RULES)
	cp deploy/prometheus/alerts.yml $(CHART_RULES)/alerts.yml

chart-files: chart-dashboards chart-rules
	mkdir -p deploy/helm/write-batcher/files
	cp main-service/main_service/tables.yaml deploy/helm/write-batcher/files/tables.yaml

# One version for the package, the images and the chart's appVersion (tests check they agree).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_REGISTRY ?= ghcr.io/write-batcher

version:
	@echo $(VERSION)

# Each service's build arguments for the one Dockerfile (docker-compose.yml passes the same).
MAIN_BUILD_ARGS := --build-arg SERVICE=main-service --build-arg MODULE=main_service \
	--build-arg METRICS_PORT=9101 --build-arg EXTRA_MEMBERS=batcher-service --build-arg SOURCES=loadtest
BATCHER_BUILD_ARGS := --build-arg SERVICE=batcher-service --build-arg MODULE=batcher_service \
	--build-arg METRICS_PORT=9102

# Tags each image with the version (what a release pushes) and :local (what compose runs).
images:
	docker build $(MAIN_BUILD_ARGS) --build-arg VERSION=$(VERSION) \
		-t $(IMAGE_REGISTRY)/main-service:$(VERSION) -t write-batcher/main:local .
	docker build $(BATCHER_BUILD_ARGS) --build-arg VERSION=$(VERSION) \
		-t $(IMAGE_REGISTRY)/batcher-service:$(VERSION) -t write-batcher/batcher:local .

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
