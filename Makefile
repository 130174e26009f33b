# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-faults lint bench install clean-db

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The hub with demo and sandbox data at http://127.0.0.1:8000 (Ctrl-C stops all it started).
run: $(STAMP)
	$(PY) -m hub.devdb run -- $(PY) manage.py devrun

## The whole suite on PostgreSQL (embedded unless DATABASE_URL is set).
test: $(STAMP)
	$(PY) -m hub.devdb run -- $(PY) -m pytest $(PYTEST_ARGS)

## The fault suite alone (tests/faults: gunicorn, PostgreSQL and Celery killed under load; part of `make test`).
test-faults: $(STAMP)
	$(PY) -m hub.devdb run -- $(PY) -m pytest tests/faults -q -s -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

## Benchmarks print figures (see each script's docstring); till_http needs wrk (apt-get install wrk).
bench: $(STAMP)
	$(PY) -m hub.devdb run -- $(PY) bench/ledger.py
	$(PY) -m hub.devdb run -- $(PY) bench/till_http.py
	$(PY) -m hub.devdb run -- $(PY) bench/clearing.py
	$(PY) -m hub.devdb run -- $(PY) bench/rights.py
	$(PY) -m hub.devdb run -- $(PY) bench/dashboard.py
	$(PY) -m hub.devdb run -- $(PY) bench/miniprogram.py

clean-db:
	-$(PY) -m hub.devdb stop
	rm -rf .pgdata
