#!/usr/bin/env bash
# The weekly security audit of the runbook, also run by `make test`:
#   1. checkov over infra/ (and terraform fmt), zero failed checks;
#   2. bandit over the Python code: no medium or high finding that is not explained inline (# nosec <id> - why);
#   3. no secret committed: detect-secrets over every tracked file (a reviewed false positive carries an inline
#      `pragma: allowlist secret` with the reason);
#   4. no secret in the local stack's logs (a throw-away stack is started when none is running).
# Exits non-zero on any finding.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
[[ -x "$VENV/bin/python" ]] || { echo "security-audit: $VENV is missing; run make test or make deploy first" >&2; exit 1; }

echo "==> 1/4 infrastructure: terraform fmt and checkov"
bash scripts/check-terraform.sh

echo "==> 2/4 code: bandit (medium and high severity)"
"$VENV/bin/bandit" --quiet --recursive lib services governance/lambda cli scripts --severity-level medium
echo "bandit: no unexplained medium or high finding"

echo "==> 3/4 repository: no secret committed (detect-secrets)"
found="$(mktemp)"
trap 'rm -f "$found"' EXIT
"$VENV/bin/detect-secrets" scan --exclude-files '(\.lock|package-lock\.json|^bench/.*\.json)$' >"$found"
"$VENV/bin/python" - "$found" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))["results"]
for path, found in sorted(results.items()):
    for item in found:
        print(f"detect-secrets: {path}:{item['line_number']}: {item['type']}", file=sys.stderr)
sys.exit(1 if results else 0)
PY
echo "detect-secrets: no secret in any tracked file"

echo "==> 4/4 logs: no secret value in the local stack's logs"
"$VENV/bin/python" scripts/audit_logs.py

echo "security audit: PASSED"
