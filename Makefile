# Everything installs into the repository: .venv (Python) and node_modules (Azurite).
# A fresh clone needs only Python 3.11+ and Node.js.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov pins an old pycep-parser and downgrades packaging, so it gets its own virtual environment; the stamp
# names the version so that changing it reinstalls. tests/infra runs it (make test needs it).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: install demo test test-unit test-integration test-e2e test-browser chromium serve check fmt lint types bench requirements clean checkov test-infra deploy-check

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	$(PYTHON) tools/console_assets.py
	touch $@

requirements: $(STAMP)
	$(PY) tools/requirements.py

demo: install
	$(PY) -m demo

test: install $(CHECKOV_STAMP) chromium
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install
	$(PY) -m pytest -q tests/integration

test-e2e: install
	$(PY) -m pytest -q tests/e2e

test-browser: install chromium
	$(PY) -m pytest -q tests/browser

# The console's browser tests drive Debian's chromium through Playwright (no browser is ever downloaded).
# Installed here when missing, which needs root (as on CI); otherwise it says what to run.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "chromium is missing: installing Debian's package for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "chromium is missing: run 'sudo apt-get install -y chromium' (the browser tests need it)"; exit 1; \
	fi

test-infra: install $(CHECKOV_STAMP)
	$(PY) -m pytest -q tests/infra

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# checkov's findings in readable form (tests/infra runs the same scan and asserts on its JSON report).
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -d infra --framework bicep --skip-download --compact

# What can be known about a deployment without Azure or the Bicep CLI: every resource body against Azure's own
# resource models at the API version they speak (per resource), checkov per file, then tests/infra (pycep
# structure tests, the model check with its planted errors, checkov's assertions). `make test` runs the same tests.
deploy-check: install $(CHECKOV_STAMP) chromium
	$(PY) -m tests.infra.arm_models
	$(PY) -m tests.infra.checkov
	$(PY) -m pytest -q tests/infra

serve: install
	$(PY) -m devhost serve

check: install $(CHECKOV_STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/requirements.py --check
	$(PY) -m pytest -q

fmt: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .run
