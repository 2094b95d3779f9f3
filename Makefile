# The front door. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# checkov pins a boto3 that conflicts with ours, so it lives in a venv of its own.
TOOLS_VENV := .venv-tools
export SAM_CLI_TELEMETRY := 0
# How the venv's python (and pytest and every tool run with it) imports phone_auth (the
# layer's package) and devtools, ops and tests: a .pth file in its site-packages naming both folders.
IMPORT_PATHS := $(VENV)/lib/python3.13/site-packages/phone-auth.pth
# sam build looks for a python3.13 binary on PATH: the venv's.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# template.yaml with its Fn::ForEach loops expanded, for checkov (make lint; .checkov.yaml reads it).
EXPANDED_TEMPLATE := .aws-sam/expanded/template.json
ENV ?= default
PORT ?= 3000
# The browser test (tests/stack/test_browser.py) drives this Chromium; `make test` installs Debian's.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: help setup chromium run test unit stack lint build check-layer deploy secret rotate-secret origin-header import invoke sam-invoke probe openapi bench clean

help:
	@echo "make run      the local stack, web client and API docs on http://127.0.0.1:$(PORT) (no Docker, no AWS account)"
	@echo "              ENV=th-dev, STATIC_DIR=path/to/your/build, FRESH=1 (start without the kept local-data/)"
	@echo "make test     run the test suite, both tiers (installs Debian's chromium for the browser test)"
	@echo "make unit     the in-process tier only (tests/unit): the fast inner loop"
	@echo "make stack    the tier against a running local stack only (tests/stack), the browser test included"
	@echo "make invoke   FN=<function, e.g. me> [EVENT=file.json]: one handler with its event on the emulator, no Docker"
	@echo "make sam-invoke FN=...  the same through sam local invoke (needs Docker and AWS credentials)"
	@echo "make lint     ruff, mypy, sam validate --lint and SAM's translator for every samconfig environment, checkov"
	@echo "make build    sam build (arm64, no Docker)"
	@echo "make deploy   ENV=<env> (default, prod, th-dev, us-dev): sam build + sam deploy; the whole set-up of a stack"
	@echo "              PARAMS=\"Key=Value ...\" on top of the environment's parameters (which it keeps)"
	@echo "make secret   ENV=<env>: create that environment's JWT key set in SSM (the first deploy does it anyway)"
	@echo "make rotate-secret  add a new current JWT key: the running local stack's, or ENV=<env>'s deployed one;"
	@echo "              RETIRE=1 removes the keys older than the current one (FORCE=1: even if it is young)"
	@echo "make origin-header STAGE=... [MARKET=th]  the header CloudFront adds in front of the API (TRUSTED_PROXY=cloudfront)"
	@echo "make probe    what an attacker gets through the default limits, measured over HTTP (the test that pins it)"
	@echo "make openapi  regenerate openapi.json from the pydantic models"
	@echo "make bench    cold starts, warm overhead, round trips, bcrypt, load (prints, asserts nothing; QUICK=1 a smoke run)"
	@echo "make check-layer  the built layer: bytecode, arm64 binaries, nothing pruned shipped, size budget"
	@echo "make import   FILE=users.csv: into the running local stack's users table (VIA_API=1: through its admin API),"
	@echo "              or STACK=name / ADMIN_API=url: through a deployed stack's admin API (execute-api:Invoke only)"

setup: $(VENV)/.installed $(IMPORT_PATHS)

$(IMPORT_PATHS): $(VENV)/.installed Makefile
	printf '%s\n' "$(CURDIR)/layers/common" "$(CURDIR)" > $@

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
	PORT=$(PORT) $(BIN)/python -m devtools.dev_server --config-env $(ENV) $(if $(STATIC_DIR),--static-dir $(STATIC_DIR)) $(if $(FRESH),--fresh)

test: setup chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The handlers in process on moto (tests/unit): no local stack, no browser.
unit: setup
	$(BIN)/python -m pytest tests/unit -q -p no:cacheprovider

# Against a local stack over HTTP (tests/stack): the emulator, the dev server, the fuzzer, the browser, the probe.
stack: setup chromium
	$(BIN)/python -m pytest tests/stack -q -p no:cacheprovider

# Debian's chromium, never a browser download: as root (CI, containers) apt-get installs it.
chromium:
	@test -x "$(CHROMIUM)" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      && test -x "$(CHROMIUM)" || { echo "still no Chromium at $(CHROMIUM)"; exit 1; }; \
	  else \
	    echo "The browser test needs Chromium at $(CHROMIUM). Install it with: sudo apt-get install chromium"; \
	    echo "(or point CHROMIUM=/path/to/chromium at another build), then run make test again."; \
	    exit 1; \
	  fi; }

lint: setup $(TOOLS_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# sam validate --lint passes cfn-lint the environment's region only; devtools.validate checks each
	@# environment's parameter values and translates the template with them, as sam validate does.
	@for env in $$($(BIN)/python -m devtools.samconfig); do \
	  echo "sam validate --lint --config-env $$env"; $(BIN)/sam validate --lint --config-env $$env || exit 1; \
	done
	$(BIN)/python -m devtools.validate
	@# checkov does not expand Fn::ForEach: it scans the template with its loops expanded (.checkov.yaml).
	$(BIN)/python -m devtools.template --output $(EXPANDED_TEMPLATE)
	$(TOOLS_VENV)/bin/checkov --config-file .checkov.yaml

build: setup
	$(BIN)/sam build

# After make build: the layer sam build made keeps its promises (devtools/perf/layer.py).
check-layer: setup
	$(BIN)/python -m devtools.perf.layer

# The environment's parameters from samconfig.toml with PARAMS merged on top (ops/deploy.py):
# sam deploy's own --parameter-overrides would replace the environment's whole list.
deploy: setup
	$(BIN)/sam build --config-env $(ENV)
	$(BIN)/python -m ops.deploy --config-env $(ENV) $(PARAMS)

# Region and parameter name come from samconfig.toml's ENV, never from the AWS environment.
secret: setup
	$(BIN)/python -m ops.secret --config-env $(ENV) $(if $(PROFILE),--profile $(PROFILE))

# Against the running local stack unless ENV is given (ENV's default does not count).
rotate-secret: setup
	$(BIN)/python -m ops.secret $(if $(RETIRE),--retire,--rotate) $(if $(FORCE),--force) \
		$(if $(filter-out file,$(origin ENV)),--config-env $(ENV),--local http://127.0.0.1:$(PORT)) \
		$(if $(PROFILE),--profile $(PROFILE))

# The custom origin header a CloudFront distribution adds for TRUSTED_PROXY=cloudfront (docs/deploy.md),
# derived from the stage's key set (or the running local stack's without STAGE or PARAM).
origin-header: setup
	$(BIN)/python -m ops.secret --origin-header $(or $(MARKET),th) \
		$(if $(or $(PARAM),$(filter-out file,$(origin STAGE))),--stage $(STAGE),--local http://127.0.0.1:$(PORT)) \
		$(if $(PARAM),--parameter-name $(PARAM)) $(if $(PROFILE),--profile $(PROFILE)) $(if $(REGION),--region $(REGION))

# Into the local stack on PORT, or STACK's table. DRY_RUN=1 writes nothing; with no local
# stack running (and no STACK) it checks the file only.
import: setup
	@test -n "$(FILE)" || { echo "usage: make import FILE=users.csv [PORT=3000 [VIA_API=1] | STACK=phone-auth-th-dev | ADMIN_API=https://.../admin] [PROFILE=... REGION=...] [DRY_RUN=1]"; exit 1; }
	$(BIN)/python -m ops.import_users "$(FILE)" $(if $(STACK),--stack $(STACK),$(if $(ADMIN_API),--admin-api $(ADMIN_API),--local http://127.0.0.1:$(PORT)$(if $(filter-out 0 no false,$(VIA_API)), --via-api))) $(if $(PROFILE),--profile $(PROFILE)) $(if $(REGION),--region $(REGION)) $(if $(filter-out 0 no false,$(DRY_RUN)),--dry-run)

invoke: setup
	@test -n "$(FN)" || { echo "usage: make invoke FN=send_verification [EVENT=events/send_verification.json] [ENV=th-dev]"; exit 1; }
	$(BIN)/python -m devtools.dev_server.invoke $(FN) $(EVENT) --config-env $(ENV)

# sam local invoke runs the built function in Docker's Lambda image, against real AWS (your
# credentials): give it a deployed stack's table names with ENV_VARS=env.json (--env-vars).
sam-invoke: build
	@test -n "$(FN)" || { echo "usage: make sam-invoke FN=send_verification [EVENT=...] [ENV_VARS=env.json]"; exit 1; }
	@command -v docker >/dev/null || { echo "sam local invoke needs Docker; make invoke FN=$(FN) needs none"; exit 1; }
	$(BIN)/sam local invoke $$($(BIN)/python -m devtools.dev_server.invoke $(FN) --logical-id) \
	  -e $(or $(EVENT),events/$(FN).json) --config-env $(ENV) $(if $(ENV_VARS),--env-vars $(ENV_VARS))

# What an attacker with any number of IPs gets through the default limits, over HTTP: the test
# that pins the figures, its table shown.
probe: setup
	$(BIN)/python -m pytest tests/stack/test_abuse_probe.py -q -s -p no:cacheprovider

openapi: setup
	$(BIN)/python -m devtools.openapi

# Figures from the built layer (so it builds first) and from the emulator; writes bench-results.json.
bench: build
	$(BIN)/python -m devtools.bench $(if $(QUICK),--quick)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
