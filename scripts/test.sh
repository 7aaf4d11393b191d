#!/usr/bin/env bash
# The test command (`make test`): lint, start the local stack if it is not running, run the whole
# pytest suite against it, and stop again whatever this run started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
start=$(date +%s)

echo "== lint"
ruff check .
ruff format --check .
mypy
lint-imports --no-cache
echo "== stack"
started_here=0
# Read the whole status first: `grep -q` stops reading at its match, and under pipefail the
# status command's broken pipe would read as "not running" (and this run would stop the stack).
status=$(tillflow status 2>/dev/null || true)
if ! grep -qE '^postgres +running' <<<"$status"; then started_here=1; fi
cleanup() { if [ "$started_here" = 1 ]; then echo "== stopping the stack this run started"; tillflow down; fi; }
trap cleanup EXIT
tillflow up

if [ -d dbt_project/models ]; then
  echo "== sqlfluff (dbt templater)"
  (cd dbt_project && sqlfluff lint --processes 2 models snapshots macros tests)
fi

echo "== pytest"
pytest "$@"
echo "make test: $(( $(date +%s) - start ))s"
