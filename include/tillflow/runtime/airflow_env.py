"""The environment Airflow runs with in local mode: config, connections (as AIRFLOW_CONN_*), paths.

Astro users get the same connections from ``airflow_settings.yaml``; a test keeps the two in step
(same ids, types, logins, schemas and extras; only hosts and ports differ).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.adapters import kafka
from tillflow.config import Settings
from tillflow.jobs.api.settings import ApiSettings
from tillflow.jobs.elt.dbt import docs_dir


def connections(settings: Settings) -> dict[str, dict[str, Any]]:
    """Airflow connections of the platform, keyed by connection id."""
    pg = settings.postgres
    api = ApiSettings.from_env()
    # Airflow's Kafka hooks build their clients from the extra: the platform's group consumer.
    kafka_extra = kafka.consumer_config(settings.kafka.connection, "tillflow-airflow")
    return {
        config.CONN_OLTP: {
            "conn_type": "postgres",
            "host": pg.oltp.host,
            "port": pg.oltp.port,
            "schema": config.DB_OLTP,
            "login": pg.api.name,
            "password": pg.api.password,
        },
        config.CONN_WAREHOUSE: {
            "conn_type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "schema": config.DB_WAREHOUSE,
            "login": pg.dbt.name,
            "password": pg.dbt.password,
        },
        config.CONN_WAREHOUSE_ADMIN: {
            "conn_type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "schema": config.DB_WAREHOUSE,
            "login": pg.admin_user,
            "password": pg.admin_password,
        },
        config.CONN_LAKEHOUSE: {
            "conn_type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "schema": settings.lakehouse.catalog_database,
            "login": pg.dbt.name,
            "password": pg.dbt.password,
            "extra": settings.lakehouse.to_extra(),
        },
        config.CONN_AIRFLOW_METADATA: {
            "conn_type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "schema": config.DB_AIRFLOW,
            "login": pg.airflow.name,
            "password": pg.airflow.password,
        },
        config.CONN_ORDERS_API: {
            "conn_type": "http",
            "host": api.host,
            "port": api.port,
            "schema": "http",
        },
        config.CONN_KAFKA: {"conn_type": "kafka", "extra": kafka_extra},
        config.CONN_KAFKA_SUGGESTIONS: {
            "conn_type": "kafka",
            "extra": {
                **kafka_extra,
                "group.id": "tillflow-suggestions-airflow",
                "session.timeout.ms": 2000,
            },
        },
        config.CONN_REDIS: {
            "conn_type": "redis",
            "host": settings.redis.host,
            "port": settings.redis.port,
            "extra": {"db": 0},
        },
        config.CONN_SPARK: {
            "conn_type": "spark",
            "host": settings.spark.master,
            "extra": {"deploy-mode": settings.spark.deploy_mode, **dict(settings.spark.conf)},
        },
    }


def _state_secret(path: Path) -> str:
    """A secret generated once per installation, so every Airflow component shares it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_home(settings: Settings) -> Path:
    return settings.home / "airflow"


def write_passwords_file(settings: Settings) -> Path:
    """The simple auth manager's login, fixed so the README can document it."""
    path = airflow_home(settings) / "passwords.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({settings.airflow.admin_user: settings.airflow.admin_password}))
    return path


def airflow_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The full process environment for any ``airflow`` command in local mode."""
    env = dict(os.environ if base is None else base)
    home = airflow_home(settings)
    pg = settings.postgres
    af = settings.airflow
    root = config.PROJECT_ROOT
    secret = _state_secret(home / "secret")
    include = str(root / "include")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (include, env.get("PYTHONPATH", "")) if p)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{af.admin_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{af.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url(
                config.DB_AIRFLOW, pg.airflow, "postgresql+psycopg2"
            ),
            "AIRFLOW__API__HOST": af.host,
            "AIRFLOW__API__PORT": str(af.port),
            "AIRFLOW__API__BASE_URL": af.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # An unchanged DAG file is parsed again every 10 minutes: parsing the eleven files
            # every 30 s cost the idle stack 2.6 % of the machine. An edited file is still parsed
            # within seconds (the default `modified_time` sort queues a file newer than its
            # last parse), and a new file within the 30 s folder refresh.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # The scheduler sleeps this long between loops that found nothing to do (Airflow's
            # default 1 s): 2 s halves its idle cost (the idle stack's largest) and adds at most
            # 2 s between one task ending and the next starting. The environment may override.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": env.get(
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "2"
            ),
            # A task whose process died with the scheduler (LocalExecutor runs tasks as its
            # children) is failed and retried after this many seconds without a heartbeat
            # (Airflow's default 300). The soak drill kills the scheduler: each kill held the
            # daily ELT 5 minutes before its retry. Live tasks beat every few seconds.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": env.get(
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "90"
            ),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Cosmos reports each task's run to an outside host by default: the stack's traffic
            # stays on this machine, and a resolver that hangs would stall every dbt task.
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # Cosmos's watcher producer otherwise rewrites one Variable holding every status it
            # has published after each dbt event (quadratic in the project's nodes: 17 s of a
            # 47 s build here). Off, the backup is written once, by the producer's failure
            # callback, which is what a retry restores from.
            "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
            # Airflow itself must not pick up a virtualenv python other than ours.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "TILLFLOW_HOME": str(settings.home),
            # The dbt docs site in the Airflow UI (Cosmos plugin); `tillflow elt docs` writes it.
            "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": json.dumps(
                {
                    "tillflow": {
                        "dir": str(docs_dir(settings)),
                        "index": "index.html",
                        "name": "tillflow warehouse",
                    }
                }
            ),
        }
    )
    for conn_id, conn in connections(settings).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env
