# PCSE status: `make up` runs the whole stack, `make test` runs every test.
# Both install what they need: a private uv in .tools/, the Python packages in .venv/, the
# gateway's Node packages in gateway/node_modules/.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
PY := .venv/bin/python
# uv must use the machine's Python, never download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

PY_STAMP := .venv/.synced
NODE_STAMP := gateway/node_modules/.installed
PYPROJECTS := pyproject.toml uv.lock kit/pyproject.toml $(wildcard services/*/pyproject.toml)

.PHONY: up test lint format schema schema-check token bench deps clean-data help

help:
	@echo "make up       run PostgreSQL, the three services and the gateway (Ctrl-C stops)"
	@echo "make test     lint, type-check and run every test"
	@echo "make lint     ruff format --check, ruff check, mypy --strict"
	@echo "make format   apply ruff's formatting and safe fixes"
	@echo "make schema   export the subgraph SDL and compose schema/supergraph.graphql"
	@echo "make token ROLE=practice SCOPE=A81001   a development token that make up trusts"
	@echo "make bench    run the benchmarks (ratios measured side by side, p50/p99)"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(PY_STAMP): $(UV) $(PYPROJECTS)
	$(UV) sync --frozen --quiet
	@touch $@

$(NODE_STAMP): gateway/package.json gateway/package-lock.json
	npm ci --prefix gateway --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(PY_STAMP) $(NODE_STAMP)

up: deps
	@$(PY) -m stack up

lint: $(PY_STAMP)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy kit stack tests demo bench
	@# One run per service: each has a tests/conftest.py, and mypy wants module names unique.
	for service in payments records performers; do $(PY) -m mypy services/$$service || exit 1; done

format: $(PY_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

schema: deps
	$(PY) -m stack schema

schema-check: deps
	$(PY) -m stack schema --check

# ROLE: practice, lmc, accountant, operator or admin; SCOPE: comma-separated ODS codes, an LMC
# code, or operator domains (payments, records, performers); SUBJECT: who it speaks for.
token: $(PY_STAMP)
	@$(PY) -m stack token --role "$(ROLE)" --scope "$(SCOPE)" $(if $(SUBJECT),--subject "$(SUBJECT)")

# Benchmarks print ratios measured side by side in one run; they assert nothing about speed.
bench: deps
	$(PY) -m bench.gateway_overhead
	$(PY) -m bench.lmc_statements
	$(PY) -m bench.payments_import
	$(PY) -m bench.directory_load
	$(PY) -m bench.lmc_summaries
	$(PY) -m bench.national_refresh
	$(PY) -m bench.records_feed
	$(PY) -m bench.events

test: deps lint
	node --test gateway/test/*.test.mjs
	$(PY) -m pytest -n auto

clean-data:
	rm -rf .data
