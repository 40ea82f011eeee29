# nightshift: the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: bootstrap up down status seed demo test test-unit lint

bootstrap:  ## build .venv (Airflow side) and .venv-tfx (TFX side) from the lock files; idempotent
	@scripts/bootstrap.sh

up: bootstrap  ## start SeaweedFS and Airflow (API/UI on 127.0.0.1:8080, scheduler, DAG processor)
	@$(PY) -m nightshift.local.stack up

down:  ## stop what `make up` started, by PID
	@if [ -x $(PY) ]; then $(PY) -m nightshift.local.stack down; fi

status:
	@$(PY) -m nightshift.local.stack status

seed: up  ## upload the taxi CSV into s3://nightshift-raw/taxi/date=YYYY-MM-DD/
	@.venv/bin/nightshift seed taxi

demo: bootstrap  ## start services, seed, run taxi_nightly through Airflow, print the published model
	@$(PY) -m nightshift.local.demo

test: bootstrap  ## unit, integration and end-to-end tests (starts its own servers on other ports)
	@scripts/run-tests.sh

test-unit: bootstrap
	@$(PY) -m pytest -m unit -q

lint: bootstrap  ## ruff on every Python folder; mypy (strict on definitions) on the shared core and the registry
	@.venv/bin/ruff check src components plugins dags tests bench pipelines
	@.venv/bin/mypy src/nightshift/core
