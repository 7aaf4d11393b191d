#!/usr/bin/env bash
# Installs everything tillflow needs on a fresh machine: the Python venv from the lock file,
# the tillflow package (editable), and the Debian packages in packages.txt that are missing.
# Idempotent and quick when nothing changed (a stamp keyed by the lock file's hash).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "install: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 2; }

# --- Debian packages (redis-server, a Java 17 runtime for Debezium, headless Chromium and its
# driver for the dashboards' browser test) ------------------------------------------------------
need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install: missing ${need_apt[*]}; install them with: sudo apt-get install -y ${need_apt[*]}" >&2
    exit 2
  fi
  echo "install: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" \
    >/dev/null
fi

# --- Python venv from the lock file ---------------------------------------------------------
dbt_manifest() {
  # Cosmos renders the ELT DAG from dbt's manifest (LoadMode.DBT_MANIFEST): refresh it whenever
  # a file of the dbt project is newer than it.
  local manifest=dbt_project/target/manifest.json
  if [ ! -f "$manifest" ] || [ -n "$(find dbt_project -path dbt_project/target -prune -o \
       -newer "$manifest" -type f \( -name '*.sql' -o -name '*.yml' \) -print -quit)" ]; then
    echo "install: dbt parse (manifest for Cosmos)"
    .venv/bin/tillflow elt manifest >/dev/null
  fi
}
trap dbt_manifest EXIT

# --- Superset in a virtual environment of its own (it pins Flask and SQLAlchemy apart from
# Airflow's) ----------------------------------------------------------------------------------
superset_venv() {
  local stamp=.venv-superset/.installed-$(sha256sum superset/requirements.lock | cut -c1-16)
  [ -f "$stamp" ] && return 0
  local start=$(date +%s)
  [ -x .venv-superset/bin/python ] || "$PYTHON" -m venv .venv-superset
  .venv/bin/uv pip install -q -p .venv-superset/bin/python -r superset/requirements.lock
  rm -f .venv-superset/.installed-*
  touch "$stamp"
  echo "install: Superset venv ready in $(( $(date +%s) - start ))s"
}

stamp=.venv/.installed-$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ -f "$stamp" ]; then
  superset_venv
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip --version >/dev/null 2>&1 || .venv/bin/python -m ensurepip >/dev/null
  .venv/bin/python -m pip install -q uv==0.13.8
fi
start=$(date +%s)
# Compile bytecode now: Spark's Python workers would otherwise recompile pandas/pyarrow each time
# when PYTHONDONTWRITEBYTECODE is set.
.venv/bin/uv pip install -q -p .venv/bin/python --compile-bytecode -r requirements.lock
.venv/bin/uv pip install -q -p .venv/bin/python --no-deps -e .
rm -f .venv/.installed-*
touch "$stamp"
echo "install: venv ready in $(( $(date +%s) - start ))s"
superset_venv
