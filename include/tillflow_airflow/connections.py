"""Settings for the domain package, read from Airflow connections by id (never literals)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Connection

from tillflow.config import KafkaConnection, LakehouseSettings, SparkSettings


def postgres_dsn(conn_id: str) -> str:
    conn = Connection.get(conn_id)
    parts = [
        f"host={conn.host}",
        f"port={conn.port or 5432}",
        f"dbname={conn.schema}",
        f"user={conn.login}",
    ]
    if conn.password:
        parts.append(f"password={conn.password}")
    return " ".join(parts)


def kafka_connection(conn_id: str) -> KafkaConnection:
    """The cluster a Kafka connection reaches: its extra's bootstrap servers and connection keys
    (security protocol, SASL, SSL, client.id); its consumer settings (group.id,
    auto.offset.reset, timeouts) are the Airflow Kafka provider's, not the platform clients'."""
    extra: dict[str, Any] = Connection.get(conn_id).extra_dejson
    if not extra.get("bootstrap.servers"):
        raise ValueError(f"connection {conn_id}: extra has no bootstrap.servers")
    return KafkaConnection.from_config(extra)


def redis_address(conn_id: str) -> tuple[str, int]:
    conn = Connection.get(conn_id)
    return str(conn.host), int(conn.port or 6379)


def spark_settings(conn_id: str) -> SparkSettings:
    """Master (host, port) and driver conf (the extra's ``spark.*`` keys) of a Spark connection."""
    conn = Connection.get(conn_id)
    return SparkSettings.from_connection(conn.host, conn.port, conn.extra_dejson)


def http_base_url(conn_id: str) -> str:
    """``scheme://host[:port]`` of an http connection (schema = the scheme, http by default; a
    host that already carries a scheme is kept as it is)."""
    conn = Connection.get(conn_id)
    host = str(conn.host or "").rstrip("/")
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    return f"{host}:{conn.port}" if conn.port else host


def lakehouse(conn_id: str) -> tuple[str, LakehouseSettings]:
    """The lakehouse catalog's DSN (a postgres connection) and its settings: the warehouse
    location and the S3 FileIO properties from the extra."""
    conn = Connection.get(conn_id)
    return postgres_dsn(conn_id), LakehouseSettings.from_extra(conn.extra_dejson, str(conn.schema))
