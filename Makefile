# OneStop — the two README commands and the usual targets.
#   make run    install everything, migrate, seed demo data, serve on http://127.0.0.1:5000 (SQLite)
#   make test   install everything, run the whole suite (SQLite and PostgreSQL)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Debian packages the browser tests need (a real headless Chromium, and CJK fonts for screenshots)
BROWSER_PACKAGES := chromium fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install browser lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); \
	fi

run: install
	$(VENV)/bin/onestop db upgrade
	$(VENV)/bin/onestop seed-demo
	$(VENV)/bin/onestop serve --host 127.0.0.1 --port 5000

test: install browser
	$(VENV)/bin/ruff check app tests $(wildcard bench)
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check app tests $(wildcard bench)

bench: install
	$(PY) bench/run.py

screenshots: install browser
	ONESTOP_SCREENSHOTS=1 $(PY) -m pytest -q -p no:cacheprovider tests/browser

clean:
	rm -rf $(VENV) instance .pytest_cache
