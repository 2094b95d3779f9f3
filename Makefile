# The front door. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# checkov pins a boto3 that conflicts with ours, so it lives in a venv of its own.
TOOLS_VENV := .venv-tools
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
# sam build looks for a python3.13 binary on PATH: the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
ENV ?= default
STAGE ?= dev
PORT ?= 3000

.PHONY: help setup run test lint build deploy secret rotate-secret import openapi bench clean

help:
	@echo "make run      start the local stack on http://127.0.0.1:$(PORT) (no Docker, no AWS account)"
	@echo "make test     run the test suite"
	@echo "make lint     ruff, mypy, sam validate --lint and checkov (skips and reasons: .checkov.yaml)"
	@echo "make build    sam build (arm64, no Docker)"
	@echo "make deploy   sam build + sam deploy --config-env ENV (default, prod, th-dev, us-dev)"
	@echo "make secret   create the JWT key set in SSM for STAGE (or PARAM=/name)"
	@echo "make rotate-secret  add a new current JWT key: the running local stack's, or STAGE=/PARAM= for a deployed one;"
	@echo "              RETIRE=1 removes the keys older than the current one (FORCE=1: even if it is young)"
	@echo "make openapi  regenerate openapi.json from the pydantic models"
	@echo "make bench    cold-import and bcrypt figures (prints, asserts nothing)"
	@echo "make import   FILE=users.csv: into the running local stack, or STACK=name for a deployed one"

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), "phone-auth needs Python 3.13 (see .python-version)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet --group dev -c constraints.txt
	@touch $@

$(TOOLS_VENV)/.installed: pyproject.toml constraints-tools.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13), "phone-auth needs Python 3.13 (see .python-version)"'
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(TOOLS_VENV)/bin/python -m pip install --quiet --group tools -c constraints-tools.txt
	@touch $@

run: setup
	PORT=$(PORT) $(BIN)/python -m devtools.local_stack --config-env $(ENV)

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup $(TOOLS_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# Each function is an app.py of its own: one run each, so request bodies are type-checked too.
	@for handler in functions/*/app.py; do $(BIN)/mypy --no-error-summary $$handler || exit 1; done
	$(BIN)/sam validate --lint
	$(TOOLS_VENV)/bin/checkov --config-file .checkov.yaml

build: setup
	$(BIN)/sam build

deploy: build
	$(BIN)/sam deploy --config-env $(ENV)

secret: setup
	$(BIN)/python -m devtools.secret --stage $(STAGE) $(if $(PARAM),--parameter-name $(PARAM)) $(if $(PROFILE),--profile $(PROFILE)) $(if $(REGION),--region $(REGION))

# Against the running local stack unless STAGE or PARAM is given (STAGE's default does not count).
rotate-secret: setup
	$(BIN)/python -m devtools.secret $(if $(RETIRE),--retire,--rotate) $(if $(FORCE),--force) \
		$(if $(or $(PARAM),$(filter-out file,$(origin STAGE))),--stage $(STAGE),--local http://127.0.0.1:$(PORT)) \
		$(if $(PARAM),--parameter-name $(PARAM)) $(if $(PROFILE),--profile $(PROFILE)) $(if $(REGION),--region $(REGION))

# Into the local stack on PORT, or STACK's table. DRY_RUN=1 writes nothing; with no local
# stack running (and no STACK) it checks the file only.
import: setup
	@test -n "$(FILE)" || { echo "usage: make import FILE=users.csv [PORT=3000 | STACK=phone-auth-th-dev PROFILE=... REGION=...] [DRY_RUN=1]"; exit 1; }
	$(BIN)/python -m devtools.import_users "$(FILE)" $(if $(STACK),--stack $(STACK),--local http://127.0.0.1:$(PORT)) $(if $(PROFILE),--profile $(PROFILE)) $(if $(REGION),--region $(REGION)) $(if $(filter-out 0 no false,$(DRY_RUN)),--dry-run)

openapi: setup
	$(BIN)/python -m devtools.openapi

bench: setup
	$(BIN)/python -m devtools.bench

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
