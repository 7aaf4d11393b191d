"""Settings for the domain package, read from Airflow connections by id (never literals)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Connection


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


def kafka_bootstrap(conn_id: str) -> str:
    extra: dict[str, Any] = Connection.get(conn_id).extra_dejson
    return str(extra["bootstrap.servers"])


def redis_address(conn_id: str) -> tuple[str, int]:
    conn = Connection.get(conn_id)
    return str(conn.host), int(conn.port or 6379)


def spark_master(conn_id: str) -> str:
    conn = Connection.get(conn_id)
    host = str(conn.host or "local[2]")
    if host.startswith("local") or "://" in host:
        return host
    return f"{host}:{conn.port}" if conn.port else host


def http_base_url(conn_id: str) -> str:
    """``scheme://host[:port]`` of an http connection (schema = the scheme, http by default; a
    host that already carries a scheme is kept as it is)."""
    conn = Connection.get(conn_id)
    host = str(conn.host or "").rstrip("/")
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    return f"{host}:{conn.port}" if conn.port else host
