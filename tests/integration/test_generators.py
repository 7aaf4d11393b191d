"""Generators against the real services: reference load and churn in a throwaway OLTP database,
scans produced into the real broker (own topics, deleted afterwards), the CLI's hash."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tillflow.adapters import kafka
from tillflow.config import KafkaConnection, Settings
from tillflow.domain.generation import reference
from tillflow.domain.generation.model import Catalog
from tillflow.jobs.generators import churn, reference_load
from tillflow.jobs.generators.scans import KafkaSink, partition_for_key, run_history

pytestmark = pytest.mark.integration

TABLE_KEYS = {
    "item_categories": "category_id",
    "stores": "store_id",
    "item_master": "item_id",
    "customers": "customer_id",
    "payment_methods": "payment_method_id",
}


@pytest.fixture(scope="module")
def oltp_dsn(stack: Settings) -> Iterator[str]:
    """A fresh database with the OLTP migrations' schema, dropped afterwards."""
    name = f"tillflow_gen_test_{uuid.uuid4().hex[:8]}"
    admin = stack.postgres.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    try:
        yield stack.postgres.dsn(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def fingerprint(dsn: str) -> dict[str, tuple[int, str]]:
    """Per table: row count and an md5 over all rows in key order."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for table, key in TABLE_KEYS.items():
            row = conn.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, '|' order by {key}), ''))"
                f" from {table} t"
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


@pytest.fixture(scope="module")
def loaded(oltp_dsn: str) -> dict[str, tuple[int, str]]:
    applied, results = reference_load.bootstrap_oltp(oltp_dsn, seed=99)
    assert "001_reference.sql" in applied
    assert {r.table: r.loaded for r in results} == {
        "item_categories": 32,
        "stores": 1000,
        "item_master": 32_000,
        "customers": 10_000,
        "payment_methods": 12,
    }
    return fingerprint(oltp_dsn)


def test_reference_load_is_idempotent(oltp_dsn: str, loaded: dict[str, tuple[int, str]]) -> None:
    # Given a database bootstrapped once; When the bootstrap runs again
    applied, results = reference_load.bootstrap_oltp(oltp_dsn, seed=99)
    # Then nothing is applied or inserted and every row is the same
    assert applied == []
    assert all(r.loaded == 0 for r in results)
    assert fingerprint(oltp_dsn) == loaded


def test_reference_rows_are_those_of_the_seed(oltp_dsn: str, loaded: Any) -> None:
    ref = reference.build_reference(99)
    with psycopg.connect(oltp_dsn) as conn:
        stores = conn.execute(
            "select store_id, city, state, timezone, latitude::text from stores order by 1 limit 3"
        ).fetchall()
    expected = [(r[0], r[3], r[4], r[8], r[6]) for r in ref.tables["stores"][:3]]
    assert stores == expected


def test_churn_applies_once_per_slot_and_a_rebootstrap_keeps_it(oltp_dsn: str, loaded: Any) -> None:
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    plan = churn.plan_item_churn(99, at)
    with psycopg.connect(oltp_dsn) as conn:
        before = dict(
            conn.execute(
                "select item_id, unit_price from item_master where category_id = %s",
                (plan.category_id,),
            ).fetchall()
        )
    # When the slot's churn runs
    first = churn.churn(oltp_dsn, at, seed=99)
    assert [r.applied for r in first] == [True, True]
    after_first = fingerprint(oltp_dsn)
    details = first[0].details
    # Then the category's prices moved by the factor, the new items exist, 3 clearance items went
    with psycopg.connect(oltp_dsn) as conn:
        prices = dict(
            conn.execute(
                "select item_id, unit_price from item_master where category_id = %s"
                " and item_id < %s",
                (plan.category_id, churn.CHURN_ITEM_ID_BASE),
            ).fetchall()
        )
        new_ids = [i.item_id for i in plan.new_items]
        present = conn.execute(
            "select count(*) from item_master where item_id = any(%s)", (new_ids,)
        ).fetchone()
        gone = conn.execute(
            "select count(*) from item_master where item_id = any(%s)", (details["deleted"],)
        ).fetchone()
    for item_id, price in prices.items():
        assert abs(float(price) - max(round(float(before[item_id]) * plan.factor, 2), 0.01)) < 0.006
    assert present == (len(new_ids),) and gone == (0,)
    clearance = reference.item_numbers(99)
    clearance_ids = set(clearance.item_id[clearance.clearance].tolist())
    assert len(details["deleted"]) == 3 and set(details["deleted"]) <= clearance_ids
    # And running the same slot again, or the bootstrap, changes nothing
    assert [r.applied for r in churn.churn(oltp_dsn, at, seed=99)] == [False, False]
    reference_load.bootstrap_oltp(oltp_dsn, seed=99)
    assert fingerprint(oltp_dsn) == after_first


def consume_all(
    connection: KafkaConnection, topic: str, expected: int, timeout: float = 60.0
) -> list[Any]:
    from confluent_kafka import TopicPartition

    cons = kafka.consumer(connection, f"test-gen-{uuid.uuid4().hex[:8]}")
    meta = cons.list_topics(topic, timeout=10)
    cons.assign([TopicPartition(topic, p, 0) for p in meta.topics[topic].partitions])
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for msg in cons.consume(10_000, timeout=0.5):
                if msg.error() is None:
                    got.append(msg)
    finally:
        cons.close()
    return got


@pytest.fixture
def topic(stack: Settings) -> Iterator[str]:

    name = f"test.gen.scans.{uuid.uuid4().hex[:8]}"
    yield name
    admin = kafka.admin(stack.kafka.connection)
    for future in admin.delete_topics([name]).values():
        future.result(10)


def test_scans_reach_the_broker_keyed_and_partitioned_by_store(stack: Settings, topic: str) -> None:
    # Given ten minutes of five stores produced into an own topic
    connection = stack.kafka.connection
    catalog = Catalog.from_seed(max_stores=5)
    start = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    stats = run_history(
        catalog, 1, start, start + timedelta(minutes=10), KafkaSink(connection, topic)
    )
    assert stats.events > 1000
    # When the topic is read back
    messages = consume_all(connection, topic, stats.events)
    # Then every event arrived once, keyed by its store, on that key's partition
    assert len(messages) == stats.events
    for m in messages:
        doc = json.loads(m.value())
        assert m.key() == str(doc["store_id"]).encode()
        assert m.partition() == partition_for_key(m.key(), 4)
    assert len({m.partition() for m in messages}) > 1
    # And the explicit partition is the one the client's default partitioner picks for the key
    delivered: list[Any] = []
    producer = kafka.producer(connection)
    for store in (1, 2, 3, 42, 999):
        producer.produce(
            topic, b"{}", str(store).encode(), on_delivery=lambda e, m: delivered.append(m)
        )
    producer.flush(10)
    assert [m.partition() for m in delivered] == [partition_for_key(m.key(), 4) for m in delivered]


def test_cli_history_twice_prints_the_same_hash(stack: Settings, topic: str) -> None:
    # Given the CLI run twice on the same window into the broker
    argv = [
        sys.executable, "-m", "tillflow.entrypoints.cli", "generate", "history",
        "--from", "2026-03-08T14:50", "--to", "2026-03-08T15:20",
        "--stores", "8", "--topic", topic, "--json",
    ]  # fmt: skip

    def run() -> dict[str, Any]:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    first, second = run(), run()
    # Then both print the same hash over the same number of events, all of them in the topic
    assert first["sha256"] == second["sha256"]
    assert first["events"] == second["events"] > 0
    assert (
        len(consume_all(stack.kafka.connection, topic, 2 * first["events"])) == 2 * first["events"]
    )
    # And another window prints another hash
    argv[argv.index("2026-03-08T14:50")] = "2026-03-09T14:50"
    argv[argv.index("2026-03-08T15:20")] = "2026-03-09T15:20"
    assert run()["sha256"] != first["sha256"]


def test_bench_prints_the_generator_rate_beside_the_raw_rate(stack: Settings) -> None:
    # Given a small bench into its own topic
    bench_topic = f"test.gen.bench.{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable, "-m", "tillflow.entrypoints.cli", "bench", "generator",
        "--events", "40000", "--topic", bench_topic, "--json",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Then both rates come from the same run over the same events, and the topic is gone after
    assert result["events"] > 30_000
    assert result["raw_produce_per_s"] > 0 and result["generator_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["generator_per_s"] / result["raw_produce_per_s"], abs=0.001
    )
    admin = kafka.consumer(stack.kafka.connection, f"test-gen-{uuid.uuid4().hex[:8]}")
    try:
        assert bench_topic not in admin.list_topics(timeout=10).topics
    finally:
        admin.close()
