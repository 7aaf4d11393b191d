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

# Schema, roles and permissions: at every start, since the metadata database may be new while
# this folder is not (each step does nothing when there is nothing to do; ~20 s together).
log "db upgrade"
superset db upgrade
log "init (roles and permissions)"
superset init

# The login: create it once; an existing user keeps its password. Flask-AppBuilder exits 0 even
# when it fails ("No user created an error occurred"), so its words are checked.
if ! out=$(superset fab create-admin --username "$TILLFLOW_SUPERSET_USER" --firstname tillflow \
      --lastname admin --email "${TILLFLOW_SUPERSET_USER}@localhost" \
      --password "$TILLFLOW_SUPERSET_PASSWORD" 2>&1); then
  echo "$out" >&2
  exit 1
fi
case "$out" in
  *"Admin User "*" created."*|*"already exists"*) ;;
  *) echo "$out" >&2; exit 1 ;;
esac

# The dashboards as code (superset/assets), rendered with this start's connection settings and
# imported with Superset's assets import, which overwrites every asset by UUID: idempotent.
bundle="$SUPERSET_HOME/tillflow_assets.zip"
digest=$(python "$here/bundle.py" "$here/assets" "$bundle")
log "import the assets ($digest)"
python "$here/import_assets.py" "$bundle" "$TILLFLOW_SUPERSET_USER"

log "serving on $TILLFLOW_SUPERSET_BIND"
# One worker with threads: about 0.4 GB beside the rest of the stack on a 2-core machine.
exec gunicorn --workers 1 --threads 8 --timeout 120 --bind "$TILLFLOW_SUPERSET_BIND" \
  --access-logfile - "superset.app:create_app()"
