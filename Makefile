# The two commands a new user needs: `make run` and `make test`. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
SAMPLE ?= examples/task-tracker.yaml
BENCH_JSON ?= bench-results.json

.PHONY: setup run test lint bench smoke-azure screenshots vendor clean

setup: $(STAMP) node_modules/.installed

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch node_modules/.installed

## make run: take the sample intent to a released, tested service on the embedded runtime
run: setup
	@bash scripts/system-packages.sh
	$(VENV)/bin/factory run $(SAMPLE) --run-id "$$(date +%s)"

## make test: lint and types, then the whole suite (unit, contract incl. Azurite, triggers, faults, e2e)
test: setup
	@bash scripts/system-packages.sh --browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/azure-functions-doctor doctor --path . --profile deploy

## make bench: numbers and ratios against baselines measured in the same run (BENCH_JSON=path)
bench: setup
	$(PY) tests/bench/run_all.py --json $(BENCH_JSON)

## make smoke-azure: the live-account path: the contract tests marked `azure` (Cosmos DB, Service Bus) and a
## deployed app's smoke run; each skips with a message unless the settings point at live services
smoke-azure: setup
	$(PY) -m pytest -m azure tests/contract
	$(PY) scripts/smoke_azure.py

## make screenshots: Studio's main pages in docs/screenshots/ (headless Debian chromium: apt-get install chromium)
screenshots: setup
	$(PY) scripts/screenshots.py

## make vendor: copy htmx and Mermaid from node_modules into Studio's static folder (committed; no node at run time)
vendor: setup
	cp node_modules/htmx.org/dist/htmx.min.js shared/studio/static/vendor/htmx.min.js
	cp node_modules/htmx.org/LICENSE shared/studio/static/vendor/htmx.LICENSE
	cp node_modules/mermaid/dist/mermaid.min.js shared/studio/static/vendor/mermaid.min.js
	cp node_modules/mermaid/LICENSE shared/studio/static/vendor/mermaid.LICENSE

clean:
	rm -rf .factory .pytest_cache .ruff_cache
