"""Apache Superset, the dashboards over the warehouse, as a service of the local stack.

Superset lives in its own virtual environment (``.venv-superset``, `make install`), never in
Airflow's. The service grants the read-only role what the dashboards read, then runs
``superset/boot.sh``, the same script the docker-compose service runs: metadata schema, login,
the dashboards as code (``superset/assets``), then gunicorn in the foreground.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from tillflow import config
from tillflow.adapters.warehouse import grant_reader
from tillflow.config import Settings, SupersetSettings
from tillflow.runtime import process
from tillflow.runtime.process import StackError
from tillflow.runtime.services import Endpoint, Service

#: superset/ at the project's root: boot.sh, bundle.py, superset_config.py and the assets.
SUPERSET_DIR = config.PROJECT_ROOT / "superset"


def superset_env(settings: Settings) -> dict[str, str]:
    """The environment boot.sh and Superset's config read (see superset/boot.sh)."""
    ss: SupersetSettings = settings.superset
    pg = settings.postgres
    return {
        **os.environ,
        "PATH": f"{ss.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "SUPERSET_HOME": str(settings.home / "superset"),
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "TILLFLOW_SUPERSET_SECRET_KEY": ss.secret_key,
        "TILLFLOW_SUPERSET_METADATA_URI": pg.url(
            config.DB_SUPERSET, ss.metadata_role, "postgresql+psycopg2"
        ),
        "TILLFLOW_SUPERSET_WAREHOUSE_URI": pg.url(config.DB_WAREHOUSE, pg.reader),
        "TILLFLOW_SUPERSET_OLTP_URI": pg.url(config.DB_OLTP, pg.reader),
        "TILLFLOW_SUPERSET_AIRFLOW_URI": pg.url(config.DB_AIRFLOW, pg.reader),
        "TILLFLOW_SUPERSET_USER": ss.admin_user,
        "TILLFLOW_SUPERSET_PASSWORD": ss.admin_password,
        "TILLFLOW_SUPERSET_BIND": f"{ss.host}:{ss.port}",
    }


class Superset(Service):
    """Superset's web server on TILLFLOW_SUPERSET_HOST:TILLFLOW_SUPERSET_PORT (127.0.0.1:8088)."""

    name = "superset"
    phase = 3
    port_setting = "TILLFLOW_SUPERSET_PORT"
    external_setting = "TILLFLOW_SUPERSET_EXTERNAL"
    # Each start upgrades Superset's schema and imports the dashboards (~44 s here; 300 s of room).
    health_timeout = 300.0

    def endpoint(self) -> Endpoint:
        return self.settings.superset

    @property
    def address(self) -> str:
        return self.settings.superset.base_url

    def healthy(self) -> bool:
        try:
            url = f"{self.settings.superset.base_url}/health"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def preflight(self) -> None:
        super().preflight()
        if not (self.settings.superset.venv / "bin" / "superset").exists():
            raise StackError(
                f"superset: no Superset in {self.settings.superset.venv}; run `make install` "
                "(or set TILLFLOW_SUPERSET_VENV, or TILLFLOW_SUPERSET_EXTERNAL=1)"
            )

    def start(self) -> None:
        # What is not there yet (dbt's first build, a migration) is covered by default privileges
        # or migration 008, and granted again at the next start; the log says what it was.
        missing = grant_reader(self.settings)
        if missing:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a") as log:
                log.write(f"superset: not there yet to grant on: {', '.join(missing)}\n")
        process.spawn(
            ["bash", str(SUPERSET_DIR / "boot.sh")],
            pid_file=self.pid_file,
            log_file=self.log_file,
            env=superset_env(self.settings),
            cwd=self.settings.home,
        )


def superset(settings: Settings) -> Service:
    return Superset(settings)
