"""Local mode and Astro define the same Airflow connections (only hosts and ports differ)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tillflow import config
from tillflow.config import PROJECT_ROOT, Settings
from tillflow.runtime.airflow_env import airflow_env, connections

pytestmark = pytest.mark.unit


def _astro_connections() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((PROJECT_ROOT / "airflow_settings.yaml").read_text())
    return {c["conn_id"]: c for c in doc["airflow"]["connections"]}


def test_same_connection_ids_in_local_mode_and_astro() -> None:
    local = connections(Settings.from_env())
    assert set(local) == set(_astro_connections())
    assert {config.CONN_OLTP, config.CONN_WAREHOUSE, config.CONN_KAFKA} <= set(local)


@pytest.mark.parametrize(
    "conn_id",
    [
        config.CONN_OLTP,
        config.CONN_WAREHOUSE,
        config.CONN_KAFKA,
        config.CONN_KAFKA_SUGGESTIONS,
        config.CONN_REDIS,
        config.CONN_SPARK,
    ],
)
def test_connection_agrees_except_host_and_port(conn_id: str) -> None:
    local = connections(Settings.from_env())[conn_id]
    astro = _astro_connections()[conn_id]
    assert local["conn_type"] == astro["conn_type"]
    assert local.get("schema") == astro.get("conn_schema")
    assert local.get("login") == astro.get("conn_login")
    local_extra = dict(local.get("extra", {}))
    astro_extra = dict(astro.get("conn_extra", {}))
    local_extra.pop("bootstrap.servers", None)
    astro_extra.pop("bootstrap.servers", None)
    assert local_extra == astro_extra


def test_kafka_connection_never_auto_commits() -> None:
    extra = connections(Settings.from_env())[config.CONN_KAFKA]["extra"]
    assert extra["enable.auto.commit"] is False


def test_airflow_env_exports_connections_and_tcp_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a non-default PostgreSQL port
    monkeypatch.setenv("TILLFLOW_PG_PORT", "61234")
    settings = Settings.from_env()
    # When the Airflow environment is built
    env = airflow_env(settings, base={"PATH": "/usr/bin"})
    # Then the metadata database and the connections use that TCP port
    assert "@127.0.0.1:61234/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    oltp = json.loads(env["AIRFLOW_CONN_POSTGRES_OLTP"])
    assert (oltp["host"], oltp["port"], oltp["schema"]) == ("127.0.0.1", 61234, "oltp")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
