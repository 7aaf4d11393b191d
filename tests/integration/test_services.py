"""Round trips through the real PostgreSQL, broker, Redis and Spark of the running stack."""

from __future__ import annotations

import uuid

import pytest

from tillflow import config
from tillflow.adapters import kafka
from tillflow.config import Settings, SparkSettings
from tillflow.jobs import smoke

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("database", "role"),
    [
        (config.DB_OLTP, "api"),
        (config.DB_WAREHOUSE, "dbt"),
        (config.DB_WAREHOUSE, "ingest"),
        (config.DB_AIRFLOW, "airflow"),
    ],
)
def test_postgres_roundtrip_per_database_and_role(
    stack: Settings, database: str, role: str
) -> None:
    pg = stack.postgres
    result = smoke.postgres_roundtrip(pg.dsn(database, getattr(pg, role)), database)
    assert result.ok and f"db={database}" in result.detail


def test_oltp_has_logical_wal_for_cdc(stack: Settings) -> None:
    import psycopg

    with psycopg.connect(stack.postgres.dsn(config.DB_OLTP)) as conn:
        row = conn.execute("show wal_level").fetchone()
    assert row == ("logical",)


def test_raw_schema_is_readable_by_dbt_and_writable_by_ingest(stack: Settings) -> None:
    import psycopg

    pg, table = stack.postgres, f"raw.grant_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.dsn(config.DB_WAREHOUSE, pg.ingest), autocommit=True) as conn:
        conn.execute(f"create table {table} (x int)")
        conn.execute(f"insert into {table} values (42)")
    try:
        with psycopg.connect(pg.dsn(config.DB_WAREHOUSE, pg.dbt)) as conn:
            assert conn.execute(f"select x from {table}").fetchone() == (42,)
    finally:
        with psycopg.connect(pg.dsn(config.DB_WAREHOUSE, pg.ingest), autocommit=True) as conn:
            conn.execute(f"drop table {table}")


def test_kafka_roundtrip(stack: Settings) -> None:
    result = smoke.kafka_roundtrip(stack.kafka.connection, f"test.smoke.{uuid.uuid4().hex[:8]}")
    assert result.ok


def test_kafka_many_messages_keep_order_within_a_partition(stack: Settings) -> None:
    from confluent_kafka import TopicPartition

    topic = f"test.order.{uuid.uuid4().hex[:8]}"
    kafka.ensure_topics(stack.kafka.connection, {topic: 1})
    prod = kafka.producer(stack.kafka.connection)
    for i in range(5000):
        prod.produce(topic, str(i).encode())
    assert prod.flush(30) == 0
    cons = kafka.consumer(stack.kafka.connection, f"g-{topic}")
    cons.assign([TopicPartition(topic, 0, 0)])
    got: list[int] = []
    try:
        while len(got) < 5000:
            batch = cons.consume(1000, timeout=5)
            assert batch, f"stalled after {len(got)} messages"
            got.extend(int(m.value()) for m in batch if m.error() is None)
    finally:
        cons.close()
    assert got == list(range(5000))


def test_redis_roundtrip(stack: Settings) -> None:
    assert smoke.redis_roundtrip(stack.redis.host, stack.redis.port).ok


def test_spark_session_runs_locally(stack: Settings) -> None:
    assert smoke.spark_roundtrip(SparkSettings("local[1]")).ok


@pytest.mark.parametrize("name", ["orders-api", "cdc", "suggestions", "superset"])
def test_the_compose_healthcheck_judges_a_service_as_status_does(
    stack: Settings, name: str
) -> None:
    """`python -m tillflow.entrypoints.healthcheck NAME` (the compose healthchecks): 0 for the
    running service, 1 once it points at an address where nothing of the kind runs."""
    import os
    import socket
    import subprocess
    import sys

    def check(**env: str) -> int:
        cmd = [sys.executable, "-m", "tillflow.entrypoints.healthcheck", name]
        return subprocess.run(cmd, env={**os.environ, **env}, timeout=60, check=False).returncode

    external = {
        "orders-api": "TILLFLOW_API_EXTERNAL",
        "cdc": "TILLFLOW_CDC_EXTERNAL",
        "superset": "TILLFLOW_SUPERSET_EXTERNAL",
    }
    marked = {external[name]: "1"} if name in external else {"TILLFLOW_SUGGESTIONS_EXTERNAL": "1"}
    assert check(**marked) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = str(sock.getsockname()[1])
    broken = {
        "orders-api": {"TILLFLOW_API_PORT": free},
        "cdc": {"TILLFLOW_CDC_SLOT": "no_such_slot"},
        "suggestions": {"TILLFLOW_HOME": "/nonexistent"},
        "superset": {"TILLFLOW_SUPERSET_PORT": free},
    }[name]
    assert check(**marked, **broken) == 1


def test_the_cdc_slot_and_the_wal_it_holds_are_read(stack: Settings) -> None:
    from tillflow.runtime import wal

    slots, pg_wal, _ = wal.read_slots(stack.postgres.dsn(config.DB_OLTP))
    cdc = [s for s in slots if s.name == "tillflow_cdc"]
    assert cdc and cdc[0].active, slots
    assert cdc[0].retained_bytes >= 0 and pg_wal > 0
