#!/usr/bin/env bash
# Health of every component, one line each (✅/❌); exits non-zero when anything is unhealthy.
# A thin wrapper over `agentctl health`: the environment comes from ENVIRONMENT (default local) or --env.
#   scripts/health-check.sh                 # the local stack
#   ENVIRONMENT=dev scripts/health-check.sh # an AWS environment
#   scripts/health-check.sh --output json
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTCTL="$ROOT/.venv/bin/agentctl"
[[ -x "$AGENTCTL" ]] || { echo "health-check: $AGENTCTL is missing; run make deploy (or make venv) first" >&2; exit 1; }

exec "$AGENTCTL" --env "${ENVIRONMENT:-local}" health "$@"
