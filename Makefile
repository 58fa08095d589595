# The two commands a newcomer needs: `make up` (service on demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# npm ci writes this file last: the map page's JavaScript (MapLibre) is installed.
WEB := web/node_modules/.package-lock.json

.PHONY: up down test bench lint schema clean

up: $(STAMP) $(WEB)
	$(VENV)/bin/jangkau up

# Stops the private database `make up` leaves running (its data stays in JANGKAU_HOME).
down: $(STAMP)
	$(VENV)/bin/jangkau down

test: $(STAMP) $(WEB)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check geo graph tests bench
	$(VENV)/bin/mypy geo graph

schema: $(STAMP)
	$(VENV)/bin/python -c "from graph.schema import schema; print(schema.as_str())" > schema.graphql

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

$(WEB): web/package-lock.json
	npm ci --prefix web --no-audit --no-fund

clean:
	rm -rf $(VENV) build *.egg-info
