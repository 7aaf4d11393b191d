"""The catch-up ingestion DAG through Airflow: green, and caught up with the platform's topics."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tillflow import config
from tillflow.adapters.warehouse import ensure_schema, warehouse_dsn
from tillflow.config import Settings

pytestmark = pytest.mark.e2e


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """End offsets from fetch responses (ListOffsets is wrong on this broker)."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "e2e-hw", "fetch.wait.max.ms": 10}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return {}
        parts = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        deadline = time.monotonic() + 10
        his: dict[int, int] = {}
        while time.monotonic() < deadline:
            consumer.consume(100_000, 0.05)
            his = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1]
                for p in parts
            }
            if all(h >= 0 for h in his.values()):
                break
        return his
    finally:
        consumer.close()


def test_ingest_dag_catches_up_with_the_scans_topic(stack: Settings) -> None:
    # Given the scans topic as it is now
    ensure_schema(stack)
    before = high_watermarks(stack.kafka.bootstrap, config.TOPICS.scans)
    # When the catch-up DAG runs once
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tillflow.entrypoints.cli",
            "airflow",
            "dags",
            "test",
            "tillflow_ingest",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = result.stdout + result.stderr
    # Then it is green, and the job's commit log is at or past every partition's end
    assert result.returncode == 0, output[-3000:]
    assert "state=success" in output, output[-3000:]
    with psycopg.connect(warehouse_dsn(stack)) as conn:
        committed = dict(
            conn.execute(
                "select kafka_partition, ops.broker_offset(next_offset) from ops.ingest_offsets"
                " where job = 'ingest' and kafka_topic = %s",
                (config.TOPICS.scans,),
            ).fetchall()
        )
    for part, end in before.items():
        if end > 0:
            assert committed.get(part, 0) >= end, (part, end, committed)
