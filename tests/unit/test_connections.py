"""Local mode and Astro define the same Airflow connections (only hosts and ports differ)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tillflow import config
from tillflow.config import PROJECT_ROOT, Settings
from tillflow.runtime.airflow_env import airflow_env, connections
from tillflow_bench.astro_parity.project import ASTRO_SERVICES

pytestmark = pytest.mark.unit


def _astro_connections() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((PROJECT_ROOT / "airflow_settings.yaml").read_text())
    return {c["conn_id"]: c for c in doc["airflow"]["connections"]}


def test_same_connection_ids_in_local_mode_and_astro() -> None:
    local = connections(Settings.from_env())
    assert set(local) == set(_astro_connections())
    assert {
        config.CONN_OLTP,
        config.CONN_WAREHOUSE,
        config.CONN_WAREHOUSE_ADMIN,
        config.CONN_ORDERS_API,
        config.CONN_KAFKA,
    } <= set(local)


def test_astro_hosts_are_services_of_the_compose_file() -> None:
    services = set(
        yaml.safe_load((PROJECT_ROOT / "docker-compose.override.yml").read_text())["services"]
    )
    hosts = {c["conn_id"]: c.get("conn_host") for c in _astro_connections().values()}
    network = {k: h for k, h in hosts.items() if h and not str(h).startswith("local")}
    # Airflow's metadata connection names the Astro CLI's own postgres service.
    assert network and set(network.values()) <= services | ASTRO_SERVICES, network


def test_migrations_have_a_connection_of_their_own_as_the_administrator() -> None:
    settings = Settings.from_env()
    local = connections(settings)
    admin, dbt = local[config.CONN_WAREHOUSE_ADMIN], local[config.CONN_WAREHOUSE]
    assert admin["login"] == settings.postgres.admin_user != dbt["login"]
    assert admin["schema"] == dbt["schema"] == config.DB_WAREHOUSE


def test_the_orders_api_connection_is_where_the_stack_serves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TILLFLOW_API_PORT", "18000")
    api = connections(Settings.from_env())[config.CONN_ORDERS_API]
    assert (api["conn_type"], api["schema"], api["host"], api["port"]) == (
        "http",
        "http",
        "127.0.0.1",
        18000,
    )


def test_dag_tasks_never_read_settings_from_the_environment() -> None:
    # Every DAG reaches services through Airflow connections (tillflow_airflow.connections).
    offenders = [
        p.name for p in sorted((PROJECT_ROOT / "dags").glob("*.py")) if "from_env(" in p.read_text()
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "conn_id",
    [
        config.CONN_OLTP,
        config.CONN_WAREHOUSE,
        config.CONN_WAREHOUSE_ADMIN,
        config.CONN_ORDERS_API,
        config.CONN_KAFKA,
        config.CONN_KAFKA_SUGGESTIONS,
        config.CONN_REDIS,
        config.CONN_SPARK,
        config.CONN_LAKEHOUSE,
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
    # Where the services are: the brokers, the lakehouse's warehouse folder.
    for key in ("bootstrap.servers", "warehouse"):
        local_extra.pop(key, None)
        astro_extra.pop(key, None)
    assert local_extra == astro_extra


def test_kafka_connection_never_auto_commits() -> None:
    extra = connections(Settings.from_env())[config.CONN_KAFKA]["extra"]
    assert extra["enable.auto.commit"] is False


def test_airflow_env_exports_connections_and_tcp_database(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given non-default ports for the warehouse's PostgreSQL and OLTP's
    monkeypatch.setenv("TILLFLOW_PG_PORT", "61234")
    monkeypatch.setenv("TILLFLOW_OLTP_PG_PORT", "61235")
    settings = Settings.from_env()
    # When the Airflow environment is built
    env = airflow_env(settings, base={"PATH": "/usr/bin"})
    # Then the metadata database and the connections use those TCP ports, OLTP its own
    assert "@127.0.0.1:61234/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    oltp = json.loads(env["AIRFLOW_CONN_POSTGRES_OLTP"])
    assert (oltp["host"], oltp["port"], oltp["schema"]) == ("127.0.0.1", 61235, "oltp")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    admin = json.loads(env["AIRFLOW_CONN_POSTGRES_WAREHOUSE_ADMIN"])
    assert (admin["host"], admin["port"], admin["schema"]) == ("127.0.0.1", 61234, "warehouse")


def test_the_helpers_turn_the_exported_connections_into_a_dsn_and_a_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the connections exactly as local mode exports them to Airflow
    settings = Settings.from_env()
    for key, value in airflow_env(settings, base={}).items():
        if key.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(key, value)
    from tillflow.jobs.api.settings import ApiSettings
    from tillflow_airflow.connections import http_base_url, postgres_dsn

    # Then migrations get the administrator's warehouse DSN and the generator the API's URL
    pg = settings.postgres
    assert postgres_dsn(config.CONN_WAREHOUSE_ADMIN) == pg.dsn(config.DB_WAREHOUSE)
    assert http_base_url(config.CONN_ORDERS_API) == ApiSettings.from_env().base_url
