# agent-runtime: one Makefile, the same verbs for everything. `make help` lists them.
#
# Everything installs itself: a virtualenv from the pinned lock (requirements.lock), npm tools from
# package-lock.json, checkov in its own virtualenv. Nothing needs to be installed by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
ENVIRONMENT ?= local
# Extra arguments of `agentctl deploy`, e.g. ARGS="--var-file $$HOME/dev.tfvars"
ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV := $(BIN)/uv
UV_VERSION := 0.13.8

export ENVIRONMENT

NODE_STAMP := node_modules/.installed
MCP_PROXY_VENV := .venv-mcp-proxy
MCP_PROXY_STAMP := $(MCP_PROXY_VENV)/.installed

.PHONY: help deploy down test lint format check-terraform docs security-audit unit lambda-package bench soak lock clean-venv mcp-proxy

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

# Node.js tools (markdownlint, markdown-link-check, the JS example's signer), pinned by package-lock.json.
$(NODE_STAMP): package-lock.json
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

# mcp-proxy-for-aws (AWS's stdio-to-SigV4 MCP proxy) in its own virtualenv: it needs mcp<2, the tests use mcp 2.
$(MCP_PROXY_STAMP): requirements-mcp-proxy.lock $(STAMP)
	@test -x $(MCP_PROXY_VENV)/bin/python || $(PYTHON) -m venv $(MCP_PROXY_VENV)
	@$(UV) pip sync --quiet --python $(MCP_PROXY_VENV)/bin/python requirements-mcp-proxy.lock
	@touch $(MCP_PROXY_STAMP)

mcp-proxy: $(MCP_PROXY_STAMP) ## The virtualenv of mcp-proxy-for-aws (.venv-mcp-proxy), for stdio MCP clients

deploy: $(STAMP) ## Bring the environment up (ENVIRONMENT=local by default); ARGS="..." are passed to agentctl deploy
	@$(BIN)/agentctl --env $(ENVIRONMENT) deploy $(ARGS)

down: ## Stop the local stack; nothing is left running or listening
	@if [ -x $(BIN)/agentctl ]; then $(BIN)/agentctl --env local down; else echo "nothing to stop"; fi

test: $(STAMP) $(NODE_STAMP) $(MCP_PROXY_STAMP) lint docs ## Every check: lint, docs, the whole test suite (it starts its own stacks), security audit
	@$(BIN)/pytest
	@bash scripts/security-audit.sh

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

docs: $(STAMP) $(NODE_STAMP) ## The documentation checks (tasks/test-task-7.sh): files, lint, links, commands that exist
	@bash tasks/test-task-7.sh

security-audit: $(STAMP) ## checkov, bandit, no committed secret, no secret in the local stack's logs
	@bash scripts/security-audit.sh

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
	@$(UV) pip compile --quiet --generate-hashes --python-version 3.11 requirements-mcp-proxy.in -o requirements-mcp-proxy.lock

clean-venv: ## Remove the virtualenvs (they are rebuilt on the next make)
	rm -rf $(VENV) .venv-checkov $(MCP_PROXY_VENV)
