#!/usr/bin/env bash
# Roll one service (orbit, axon or governance) back to its previous version, then verify it.
# A thin wrapper over `agentctl rollback`; the environment comes from ENVIRONMENT (default local), and every
# other argument is passed on:
#   ENVIRONMENT=dev scripts/rollback.sh axon
#   ENVIRONMENT=dev scripts/rollback.sh governance --to-revision 7 --yes
#   ENVIRONMENT=prod scripts/rollback.sh orbit --allow-prod
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTCTL="$ROOT/.venv/bin/agentctl"
[[ -x "$AGENTCTL" ]] || { echo "rollback: $AGENTCTL is missing; run make deploy (or make venv) first" >&2; exit 1; }
if [[ $# -lt 1 ]]; then
    echo "usage: scripts/rollback.sh SERVICE [agentctl rollback options]   (SERVICE: orbit, axon, governance)" >&2
    exit 2
fi

exec "$AGENTCTL" --env "${ENVIRONMENT:-local}" rollback "$@"
