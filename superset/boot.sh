#!/usr/bin/env bash
# Starts Superset for tillflow: metadata schema, admin user and the dashboards as code, then the
# web server in the foreground. The local stack (`tillflow up`) and the docker-compose service
# both run this script; each sets the environment below.
#
#   SUPERSET_HOME                   a writable folder for markers and the rendered bundle
#   SUPERSET_CONFIG_PATH            superset/superset_config.py
#   TILLFLOW_SUPERSET_SECRET_KEY, TILLFLOW_SUPERSET_METADATA_URI   (read by the config)
#   TILLFLOW_SUPERSET_WAREHOUSE_URI, _OLTP_URI, _AIRFLOW_URI       read-only sources of the charts
#   TILLFLOW_SUPERSET_USER, TILLFLOW_SUPERSET_PASSWORD             the login
#   TILLFLOW_SUPERSET_BIND          host:port of the web server
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${SUPERSET_HOME:?}" "${TILLFLOW_SUPERSET_USER:?}" "${TILLFLOW_SUPERSET_PASSWORD:?}"
: "${TILLFLOW_SUPERSET_BIND:=127.0.0.1:8088}"
export FLASK_APP=superset
mkdir -p "$SUPERSET_HOME"
log() { echo "superset-boot: $*"; }

# Schema and roles once per Superset version (each step takes 5-10 s).
version=$(superset version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
marker="$SUPERSET_HOME/.initialised-${version:-unknown}"
if [ ! -f "$marker" ]; then
  log "db upgrade"
  superset db upgrade
  log "init (roles and permissions)"
  superset init
  touch "$marker"
fi

# The login: create it once; an existing user keeps its password.
if ! out=$(superset fab create-admin --username "$TILLFLOW_SUPERSET_USER" --firstname tillflow \
      --lastname admin --email "${TILLFLOW_SUPERSET_USER}@localhost" \
      --password "$TILLFLOW_SUPERSET_PASSWORD" 2>&1); then
  echo "$out" >&2
  exit 1
fi
case "$out" in *"already exists"*|*"created"*) ;; *) echo "$out" >&2; exit 1 ;; esac

# The dashboards as code, imported again whenever the rendered bundle changed (new assets or new
# connection settings). The import overwrites every asset by UUID, so it is idempotent.
bundle="$SUPERSET_HOME/tillflow_assets.zip"
digest=$(python "$here/bundle.py" "$here/assets" "$bundle")
if [ "$(cat "$SUPERSET_HOME/.imported" 2>/dev/null || true)" != "$digest" ]; then
  log "import the assets ($digest)"
  python "$here/import_assets.py" "$bundle" "$TILLFLOW_SUPERSET_USER"
  echo "$digest" > "$SUPERSET_HOME/.imported"
fi

log "serving on $TILLFLOW_SUPERSET_BIND"
# One worker with threads: about 0.4 GB beside the rest of the stack on a 2-core machine.
exec gunicorn --workers 1 --threads 8 --timeout 120 --bind "$TILLFLOW_SUPERSET_BIND" \
  --access-logfile - "superset.app:create_app()"
