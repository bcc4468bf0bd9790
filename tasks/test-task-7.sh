#!/usr/bin/env bash
# Task 7 (the specification's documentation task), kept and strengthened: run by `make test` in CI.
#   - every doc file present; README sections and links; the specification's greps (setup guide, API, failure
#     plan, runbook);
#   - markdownlint over docs/ and README.md, clean;
#   - markdown-link-check over every doc: a broken relative link or anchor fails; external links are listed,
#     not fetched (no network here);
#   - docs as tests: every agentctl command line, make target and script the docs name exists.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/node_modules/.bin"
fail() { echo "❌ $*" >&2; exit 1; }

echo "Testing Task 7: Documentation"

DOC_FILES=(
  "docs/architecture.md"
  "docs/failure-resilience.md"
  "docs/security.md"
  "docs/runbook.md"
  "docs/setup-guide.md"
  "docs/troubleshooting.md"
  "docs/api.md"
  "docs/performance.md"
)
for file in "${DOC_FILES[@]}"; do
  [[ -f "$file" ]] || fail "Documentation file missing: $file"
done
echo "✅ All documentation files present"

for section in "Setup Guide" "API Documentation" "Architecture"; do
  grep -q "$section" README.md || fail "README missing key section: $section"
done
for file in "${DOC_FILES[@]}"; do
  grep -q "](${file})" README.md || fail "README does not link to $file"
done
grep -q "make deploy" README.md && grep -q "make test" README.md || fail "README lacks the two set-up commands"
echo "✅ README is comprehensive"

grep -q "terraform init" docs/setup-guide.md || fail "Setup guide missing: terraform init"
grep -q "docker build" docs/setup-guide.md || fail "Setup guide missing: docker build"
echo "✅ Setup guide includes key commands"

grep -q "GET /health" docs/api.md || fail "api.md does not document GET /health"
grep -q "POST /dispatch" docs/api.md || fail "api.md does not document POST /dispatch"
echo "✅ API documentation covers GET /health and POST /dispatch"

for word in Symptoms Detection Recovery; do
  [[ "$(grep -c "$word" docs/failure-resilience.md)" -ge 5 ]] || fail "failure-resilience.md: too few '$word' sections"
done
[[ "$(grep -c "Procedure\|Steps\|Commands" docs/runbook.md)" -ge 5 ]] || fail "runbook.md lacks procedures"
echo "✅ Failure plan and runbook have their structure"

# Run on its own (as the specification's CI does), the script installs what it needs: the npm tools pinned by
# package-lock.json, and the project's virtualenv for the docs-as-tests check below.
if [[ ! -x "$BIN/markdownlint" || ! -x "$BIN/markdown-link-check" ]]; then
  echo "· installing the npm tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed: the npm registry must be reachable"
  touch node_modules/.installed
fi
[[ -x "$BIN/markdownlint" && -x "$BIN/markdown-link-check" ]] || fail "npm tools missing after npm ci"
"$BIN/markdownlint" --config .markdownlint.json README.md docs/*.md || fail "markdownlint found problems"
echo "✅ Markdown lint clean"

broken=0
for file in README.md docs/*.md; do
  if ! "$BIN/markdown-link-check" --config .markdown-link-check.json --quiet "$file" >/tmp/link-check.$$ 2>&1; then
    cat /tmp/link-check.$$ >&2
    broken=1
  fi
done
rm -f /tmp/link-check.$$
[[ "$broken" -eq 0 ]] || fail "broken relative links or anchors"
external="$(grep -ohE '\]\(https?://[^)]+\)' README.md docs/*.md | sed -E 's/^\]\(|\)$//g' | sort -u || true)"
echo "✅ Documentation links validated (relative links and anchors); external links, not fetched:"
if [[ -n "$external" ]]; then
  while read -r url; do echo "   - $url"; done <<<"$external"
else
  echo "   (none)"
fi

[[ -x "$ROOT/.venv/bin/python" ]] || make --no-print-directory venv >/dev/null || fail "could not build the virtualenv"
"$ROOT/.venv/bin/python" scripts/check_docs.py || fail "the docs name commands, targets or scripts that do not exist"
echo "✅ Every agentctl command, make target and script in the docs exists"

echo ""
echo "🎉 Task 7 Documentation: PASSED"
