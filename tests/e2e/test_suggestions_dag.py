"""The sensor-driven suggestion DAG, run with `airflow dags test` on the test's own topics."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid

import pytest

from tests.integration import suggestions_support as sup
from tillflow.config import Settings
from tillflow.runtime.airflow_env import connections

pytestmark = pytest.mark.e2e


def test_the_dag_suggests_every_qualifying_order_once_with_the_same_rule(stack: Settings) -> None:
    # Given orders of which some qualify, on the test's own topic
    catalogue = sup.create_catalogue()
    topics = sup.new_topics()
    orders = sup.random_orders(catalogue, 12, random.Random(12))
    qualifying = sorted(o.order_id for o in orders if sup.qualifies(catalogue, o))
    assert qualifying
    sup.produce_orders(topics.orders, orders)
    # (a Kafka connection of its own, as `kafka_suggestions` is: a fresh consumer group)
    kafka_extra = {
        **connections(stack)["kafka_default"]["extra"],
        "group.id": f"e-test-{uuid.uuid4().hex[:8]}",
        "session.timeout.ms": 2000,
    }
    env = {
        **os.environ,
        "AIRFLOW_CONN_E_TEST_KAFKA": json.dumps({"conn_type": "kafka", "extra": kafka_extra}),
    }
    conf = {
        "idle_seconds": 10,
        "orders_topic": topics.orders,
        "suggestions_topic": topics.suggestions,
        "cache_prefix": f"tillflow:test:{topics.base}",
        "kafka_conn_id": "e_test_kafka",
    }
    # When the DAG runs until it has been idle for 10 s
    result = subprocess.run(
        [sys.executable, "-m", "tillflow.entrypoints.cli", "airflow", "dags", "test",
         "tillflow_suggestions", "-c", json.dumps(conf)],
        capture_output=True, text=True, timeout=400, check=False, env=env,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # Then every qualifying order got exactly one suggestion, published, with the same invariants
    lines = sup.suggested_lines(qualifying)
    assert sorted(line[0] for line in lines) == qualifying, output[-3000:]
    messages = [m for m in sup.read_topic(topics.suggestions) if m["order_id"] in qualifying]
    assert sorted({m["order_id"] for m in messages}) == qualifying
    assert {m["source"] for m in messages} == {"airflow"}
    by_id = {o.order_id: o for o in orders}
    for order_id, _, product_id, _, dtype, dvalue in lines:
        assert product_id not in by_id[order_id].product_ids
        assert dtype == "percentage" and 20 <= dvalue <= 50
    # and the sensor ended by its idle timeout (skipped), then the summary ran
    assert "task_id=summary" in output
