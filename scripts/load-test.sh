#!/usr/bin/env bash
# Load test of the zero-trust path: wraps bench/run.py (`make bench`) and bench/soak.py (`make soak`).
#
#   scripts/load-test.sh            the bench: its own local stack on free ports, < 5 minutes, writes
#                                   bench/results.json, bench/results.md and the tables of docs/performance.md
#   scripts/load-test.sh --quick    a short smoke run (about a minute); prints the tables, writes nothing
#   scripts/load-test.sh --soak     steady load for SOAK_SECONDS (default 180), memory sampled; bench/soak.json
#
# Settings are environment variables (BENCH_LEVELS, BENCH_DURATION, SOAK_SECONDS, ...): see docs/performance.md.
# The stack the bench starts is always stopped, also on error or Ctrl-C; a stack you run yourself is untouched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ ! -x .venv/bin/python ]]; then
  make venv
fi

if [[ "${1:-}" == "--soak" ]]; then
  shift
  exec .venv/bin/python -m bench.soak "$@"
fi
exec .venv/bin/python -m bench.run "$@"
