#!/usr/bin/env bash
# The test command (`make test`): lint, start the local stack if it is not running, run the whole
# pytest suite against it, and stop again whatever this run started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
start=$(date +%s)

started_here=0
# Read the whole status first: `grep -q` stops reading at its match, and under pipefail the
# status command's broken pipe would read as "not running" (and this run would stop the stack).
status=$(tillflow status 2>/dev/null || true)
if ! grep -qE '^postgres +running' <<<"$status"; then started_here=1; fi
cleanup() { if [ "$started_here" = 1 ]; then echo "== stopping the stack this run started"; tillflow down; fi; }
trap cleanup EXIT

# The stack starts while the Python lint runs: both take about a minute on a fresh clone, and
# the stack's start is mostly waiting on its servers. Its lines are printed once it is up.
up_log=$(mktemp)
tillflow up >"$up_log" 2>&1 &
up_pid=$!
echo "== lint (the stack starts meanwhile)"
lint_rc=0
{ ruff check . && ruff format --check . && mypy && lint-imports --no-cache; } || lint_rc=$?
up_rc=0
wait "$up_pid" || up_rc=$?
echo "== stack"
cat "$up_log"
rm -f "$up_log"
if [ "$lint_rc" != 0 ]; then echo "make test: lint failed" >&2; exit "$lint_rc"; fi
if [ "$up_rc" != 0 ]; then echo "make test: the stack did not start" >&2; exit "$up_rc"; fi

# After the stack: the dbt templater compiles the project against the warehouse.
if [ -d dbt_project/models ]; then
  echo "== sqlfluff (dbt templater)"
  (cd dbt_project && sqlfluff lint --processes 2 models snapshots macros tests)
fi

echo "== pytest"
pytest "$@"
echo "make test: $(( $(date +%s) - start ))s"
