#!/usr/bin/env bash
# The daily backup of the policies table: a new on-demand backup, then backups older than KEEP_DAYS (default
# 30) are deleted (the newest is always kept). A thin wrapper over `agentctl backup create` and
# `agentctl backup prune`; the environment comes from ENVIRONMENT (default local).
#   ENVIRONMENT=prod scripts/backup.sh
#   ENVIRONMENT=dev KEEP_DAYS=7 scripts/backup.sh
# Secrets are not exported: Secrets Manager keeps their versions, encrypted with KMS (see docs/runbook.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTCTL="$ROOT/.venv/bin/agentctl"
[[ -x "$AGENTCTL" ]] || { echo "backup: $AGENTCTL is missing; run make deploy (or make venv) first" >&2; exit 1; }
ENV_NAME="${ENVIRONMENT:-local}"

"$AGENTCTL" --env "$ENV_NAME" backup create
"$AGENTCTL" --env "$ENV_NAME" backup prune --keep-days "${KEEP_DAYS:-30}" --yes
