# tillflow — `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: help install up down status logs run demo test test-unit lint format lock bench bench-ingest-fault bootstrap dbt-manifest dbt-docs clean

help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## create .venv from requirements.lock and install missing Debian packages (idempotent)
	@scripts/install.sh

up: install ## start the local stack (PostgreSQL, Kafka, Redis, Airflow); idempotent
	@tillflow up

down: ## stop exactly what `make up` started
	@tillflow down

status: ## each service of the stack, its address and state
	@tillflow status

logs: ## tail a service's log: make logs SERVICE=airflow-scheduler
	@tillflow logs $(or $(SERVICE),airflow-scheduler) -n 100

run: install ## the whole chain on its own (live scans, orders, churn, ingestion, daily ELT) until `tillflow run --stop`
	@tillflow run

demo: install ## the main job: bring the stack up and run the pipeline through Airflow, with a summary
	@tillflow demo

test: install ## the test command: lint, start the stack, run every test (what CI runs)
	@scripts/test.sh

test-unit: install ## unit and DAG integrity tests only (no services)
	@pytest -m "unit or dags"

lint: install ## ruff, mypy, the import contracts (lint-imports) and sqlfluff
	@ruff check . && ruff format --check . && mypy && lint-imports --no-cache
	@cd dbt_project && sqlfluff lint models snapshots macros tests

format: install ## ruff format and autofix
	@ruff format . && ruff check --fix .

bench: install ## benchmarks with figures and ratios from one run (needs `make up`)
	@tillflow bench idle --seconds 30 || true  # the baseline the other figures run beside
	@tillflow bench dags
	@tillflow bench generator
	@tillflow bench ingest
	@tillflow bench elt --scans 200000 --history-days 3
	@tillflow bench suggestions

bench-ingest-fault: install ## kill -9 the ingestion 10 times during a 1M-event ingest; 0 missing, 0 duplicated
	@tillflow bench ingest-fault

bootstrap: install ## OLTP migrations, seeded reference data and topics (needs `make up`)
	@tillflow generate reference

dbt-manifest: install ## refresh dbt_project/target/manifest.json (Cosmos renders the ELT DAG from it)
	@tillflow elt manifest

dbt-docs: install ## generate the dbt docs site shown in the Airflow UI (Browse > dbt docs)
	@tillflow elt docs

lock: ## re-resolve requirements.lock from requirements*.txt (needs uv)
	@$(VENV)/uv pip compile requirements-local.in -p 3.11 -o requirements.lock --no-header -q
	@$(VENV)/uv pip compile superset/requirements.in -p 3.11 -o superset/requirements.lock --no-header -q

clean: down ## stop the stack and delete all local state (.tillflow/)
	@rm -rf .tillflow
