# OneStop — the two README commands and the usual targets.
#   make run    install everything, migrate, seed demo data, serve on http://127.0.0.1:5000 (SQLite)
#   make test   install everything, run the whole suite (SQLite and PostgreSQL)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/onestop db upgrade
	$(VENV)/bin/onestop seed-demo
	$(VENV)/bin/onestop serve --host 127.0.0.1 --port 5000

test: install
	$(VENV)/bin/ruff check app tests $(wildcard bench)
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check app tests $(wildcard bench)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache
