# The two commands a fresh machine needs are `make demo` and `make test`; each builds .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench test-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "meshfed needs Python 3.11 or newer: set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/meshfed demo

# checkov pins older cloud SDKs than meshfed uses, so it lives in a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30

test-deps:
	@scripts/ensure-test-deps.sh
	@test -x $(CHECKOV_VENV)/bin/checkov || { $(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

typecheck: lint

# pytest exits 5 when it collects no test; make treats any non-zero exit as failure.
test: $(STAMP) test-deps lint
	$(PY) -m pytest

# Each benchmark prints one JSON object; run as modules from the repo root (they share
# tests/support's local cloud fakes).
bench: $(STAMP)
	@for b in bench/*/run.py; do m=$$(echo $${b%.py} | tr / .); echo "== $$m"; $(PY) -m $$m || exit 1; done

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache
