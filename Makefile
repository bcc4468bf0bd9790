# agent-runtime: one Makefile, the same verbs for everything. `make help` lists them.
#
# Everything installs itself: a virtualenv from the pinned lock (requirements.lock), npm tools from
# package-lock.json, checkov in its own virtualenv. Nothing needs to be installed by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
ENVIRONMENT ?= local
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(BIN)/uv
UV_VERSION := 0.13.8

export ENVIRONMENT

.PHONY: help deploy down test lint format check-terraform unit lambda-package bench soak lock clean-venv

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# The virtualenv is rebuilt when the lock or the project definition changes.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(UV) pip sync --quiet --python $(BIN)/python requirements.lock
	@$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)
	@echo "virtualenv ready: $(VENV)"

venv: $(STAMP)

deploy: $(STAMP) ## Bring the environment up (ENVIRONMENT=local by default: the whole stack on this machine)
	@$(BIN)/agentctl --env $(ENVIRONMENT) deploy

down: ## Stop the local stack; nothing is left running or listening
	@if [ -x $(BIN)/agentctl ]; then $(BIN)/agentctl --env local down; else echo "nothing to stop"; fi

test: $(STAMP) lint check-terraform ## Every check: lint, Terraform, the whole test suite (starts its own stacks)
	@$(BIN)/pytest

unit: $(STAMP) ## The test suite without the tests that start local stacks
	@$(BIN)/pytest -m "not stack"

lint: $(STAMP) ## ruff (lint and format check)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

format: $(STAMP) ## Format the Python code
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

check-terraform: $(STAMP) ## terraform fmt and checkov over infra/ (offline)
	@bash scripts/check-terraform.sh

lambda-package: $(STAMP) ## Build governance/lambda/lambda.zip for the Lambda platform
	@$(BIN)/python scripts/build_lambda.py

bench: $(STAMP) ## Measure the zero-trust path against its limits (bounded, < 5 min); writes bench/results.json
	@$(BIN)/python -m bench.run

soak: $(STAMP) ## Steady load for a few minutes with every process's memory sampled
	@$(BIN)/python -m bench.soak

lock: $(STAMP) ## Recompile the lock files from the *.in files
	@$(UV) pip compile --quiet --generate-hashes --python-version 3.11 requirements.in -o requirements.lock
	@$(UV) pip compile --quiet --generate-hashes --python-version 3.12 requirements-runtime.in -o requirements-runtime.lock
	@$(UV) pip compile --quiet --generate-hashes --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
		governance/lambda/requirements.in -o governance/lambda/requirements.lock

clean-venv: ## Remove the virtualenvs (they are rebuilt on the next make)
	rm -rf $(VENV) .venv-checkov
