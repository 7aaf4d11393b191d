"""Streaming ingestion against the real stack: Kafka (Tansu) → Spark → PostgreSQL raw layer.

- poison: bad records of every kind mixed into valid streams (scans, CDC, order events) →
  count(raw) + count(dead letters) = produced, every bad one with a reason;
- the sink alone: a replayed chunk lands nothing twice;
- faults: kill -9 the job twice mid-ingest (60k events here; `tillflow bench ingest-fault`
  does 1M) → the exact id set; the job's database connections terminated mid-ingest → it recovers
  by itself and nothing is lost.

The manual PostgreSQL-restart test (not run here: the stack's PostgreSQL is shared):
    tillflow bench ingest-fault --events 1000000 --kills 0 &   # or any long ingest
    tillflow down postgres && sleep 20 && tillflow up postgres
    → the sink retries for up to 120 s per chunk, then the query restarts; the drill's id check
      reports 0 missing, 0 duplicated.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest

from tillflow import config
from tillflow.config import Settings
from tillflow.domain.events import orders, scans
from tillflow.domain.events import samples as events
from tillflow.domain.events.records import Parsed, TimeWindow, kafka_arrow_schema
from tillflow.jobs.ingest.sink import Sink
from tillflow_bench import ingest as bench

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(stack: Settings) -> Iterator[str]:
    bench.ensure_schema(stack)
    yield bench.warehouse_dsn(stack)


def count(dsn: str, sql: str, *args: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


def run_job(settings: Settings, topics: list[str], job: str, *extra: str) -> None:
    cmd = bench.job_command(
        topics, job, "available-now", settings.home / "spark" / "checkpoints" / job, extra
    )
    proc = bench.start_job(cmd, settings.log_dir / f"{job}.log")
    try:
        assert proc.wait(600) == 0, f"job failed; see {settings.log_dir / f'{job}.log'}"
    finally:
        if proc.poll() is None:
            bench.kill_job(proc)


def cdc_envelope(op: str, item_id: int) -> bytes:
    image = {"item_id": item_id, "price": "1.50"}
    return json.dumps(
        {
            "before": image if op in "ud" else None,
            "after": image if op in "cur" else None,
            "source": {"table": "item_master", "lsn": 1000 + item_id, "ts_ms": 1_763_719_200_000},
            "op": op,
            "ts_ms": 1_763_719_200_100,
        }
    ).encode()


def order_envelope(event_id: int, store_id: int = 42) -> bytes:
    now = events.iso_ms(dt.datetime.now(dt.UTC))
    event = {
        "schema_version": 1,
        "event_type": "order_created",
        "order_id": 1000 + event_id,
        "customer_id": 7,
        "payment_method_id": 3,
        "store_id": store_id,
        "ordered_at": now,
        "lines": [
            {
                "line_no": n,
                "product_id": 500 + n,
                "quantity": 1,
                "unit_price": "9.99",
                "discount_type": "none",
                "discount_value": "0",
                "is_suggestion": False,
            }
            for n in (1, 2, 3)
        ],
    }
    after = {"event_id": event_id, "payload": orders.payload_json(event)}
    return json.dumps(
        {"before": None, "after": after, "source": {"ts_ms": 1}, "op": "c", "ts_ms": 1}
    ).encode()


@pytest.mark.parametrize("engine", ["fused", "python"])
def test_poison_records_are_dead_letters_and_the_rest_lands(
    stack: Settings, warehouse: str, engine: str
) -> None:
    # Given valid streams with bad records of every kind mixed in, on three kinds of topic
    tag = uuid.uuid4().hex[:8]
    scans_topic, cdc_topic, orders_topic = (
        f"test.scans.poison.{tag}",
        f"test.cdc.poison.{tag}",
        f"test.orders.poison.{tag}",
    )
    bad = events.bad_scans()
    scan_records: list[tuple[bytes | None, bytes | None]] = []
    valid = 0
    for i, (kind, value) in enumerate(sorted(bad.items())):
        scan_records.extend(events.scans(i * 100, 100))
        valid += 100
        scan_records.append((kind.encode(), value))
    cdc_records = [(b"k", cdc_envelope(op, i)) for i, op in enumerate("crud")] + [
        (b"k", None),  # tombstone: a change, not a dead letter
        (b"k", b"{broken"),
        (b"k", cdc_envelope("x", 9)),
    ]
    order_records = [(b"o", order_envelope(i)) for i in range(1, 6)] + [
        (b"o", order_envelope(6, store_id=5000)),
        (b"o", b"\xff\xfe"),
    ]
    bench.produce_records(stack.kafka.connection, scans_topic, scan_records)
    bench.produce_records(stack.kafka.connection, cdc_topic, cdc_records)
    bench.produce_records(stack.kafka.connection, orders_topic, order_records)
    job = f"test-poison-{engine}-{tag}"
    topics = [scans_topic, cdc_topic, orders_topic]
    try:
        # When the catch-up job runs over them
        run_job(
            stack,
            [f"{scans_topic}:scans", f"{cdc_topic}:cdc", f"{orders_topic}:orders"],
            job,
            "--engine",
            engine,
        )
        # Then every produced record is in exactly one place
        rows = count(
            warehouse, "select count(*) from raw.pos_scans where kafka_topic = %s", scans_topic
        )
        dead = count(
            warehouse, "select count(*) from raw.dead_letters where kafka_topic = %s", scans_topic
        )
        assert (rows, dead) == (valid, len(bad))
        assert rows + dead == len(scan_records)
        with psycopg.connect(warehouse) as conn:
            letters = conn.execute(
                "select kafka_key, payload, error from raw.dead_letters where kafka_topic = %s",
                (scans_topic,),
            ).fetchall()
        by_kind = {bytes(k).decode(): (p, e) for k, p, e in letters}
        assert set(by_kind) == set(bad)
        for kind, (payload, error) in by_kind.items():
            assert error, kind
            assert (bytes(payload) if payload is not None else None) == bad[kind]
        changes = count(
            warehouse, "select count(*) from raw.cdc_changes where kafka_topic = %s", cdc_topic
        )
        cdc_dead = count(
            warehouse, "select count(*) from raw.dead_letters where kafka_topic = %s", cdc_topic
        )
        assert (changes, cdc_dead) == (5, 2)
        n_orders = count(
            warehouse, "select count(*) from raw.orders where kafka_topic = %s", orders_topic
        )
        n_lines = count(
            warehouse, "select count(*) from raw.order_lines where kafka_topic = %s", orders_topic
        )
        o_dead = count(
            warehouse, "select count(*) from raw.dead_letters where kafka_topic = %s", orders_topic
        )
        assert (n_orders, n_lines, o_dead) == (5, 15, 2)
        # And the commit log and the progress table know the job
        # (progress rows under the query's checkpoint name, as run_job names it after the job)
        assert (
            count(
                warehouse,
                "select count(*) from ops.ingest_batches where job = %s and stream = %s",
                job,
                job,
            )
            >= 1
        )
        assert count(
            warehouse,
            "select sum(ops.broker_offset(next_offset)) from ops.ingest_offsets"
            " where job = %s and kafka_topic = %s",
            job,
            scans_topic,
        ) == len(scan_records)
    finally:
        bench.cleanup(warehouse, topics, [job])
        bench.delete_topics(stack.kafka.connection, topics)
        bench.drop_checkpoints(stack, [job])


def test_a_replayed_chunk_lands_nothing_twice(stack: Settings, warehouse: str) -> None:
    # Given a chunk of 1,000 scans landed once
    topic = f"test.scans.replay.{uuid.uuid4().hex[:8]}"
    job = f"test-replay-{topic[-8:]}"
    window = TimeWindow.current()
    values = [v for _, v in events.scans(0, 1000)]
    records = pa.table(
        [
            pa.array([None] * 1000, pa.binary()),
            pa.array(values, pa.binary()),
            pa.array([topic] * 1000),
            pa.array([0] * 1000, pa.int32()),
            pa.array(range(1000), pa.int64()),
            pa.array([0] * 1000, pa.timestamp("us", tz="UTC")),
            pa.array([0] * 1000, pa.int32()),
        ],
        schema=kafka_arrow_schema(),
    )
    parsed = scans.parse(records, window)
    try:
        for mode in ("direct", "merge"):
            sink = Sink(warehouse, job, mode)
            first = sink.land(parsed, {(topic, 0): 1000})
            # When the same chunk (and an overlapping one) is landed again
            again = sink.land(parsed, {(topic, 0): 1000})
            overlap = scans.parse(records.slice(500), window)
            third = sink.land(overlap, {(topic, 0): 1000})
            sink.close()
            # Then the fence skips every record that landed before
            if mode == "direct":
                assert first.landed == 1000
            assert again.landed == 0 and again.skipped == 1000
            assert third.landed == 0 and third.skipped == 500
        assert (
            count(warehouse, "select count(*) from raw.pos_scans where kafka_topic = %s", topic)
            == 1000
        )
        # And a chunk for another job (no fence) merges instead of duplicating
        other = Sink(warehouse, job + "-other", "direct")
        result = other.land(Parsed(tables=dict(parsed.tables)), {(topic, 0): 1000})
        other.close()
        assert result.landed == 0
        assert (
            count(warehouse, "select count(*) from raw.pos_scans where kafka_topic = %s", topic)
            == 1000
        )
    finally:
        bench.cleanup(warehouse, [topic], [job, job + "-other"])


def test_kill_minus_9_twice_loses_and_repeats_nothing(stack: Settings, warehouse: str) -> None:
    # Given 60,000 scans; When the continuous job is killed -9 twice at random points and
    # restarted each time, then finishes with a catch-up run. (Two keeps CI short: each kill
    # costs a Spark restart; `make bench-ingest-fault` is the ten-kill drill over 1M events, and
    # the soak drill's short version kills the stack's continuous ingestion too.)
    result = bench.fault_drill(
        stack, count=60_000, kills=2, min_delay=0.0, max_delay=2.0,
        max_offsets_per_trigger=4_000, seed=4,
    )  # fmt: skip
    # Then every kill hit a landing run, and raw holds exactly the produced ids
    assert len(result.kill_points) == 2, result
    assert (result.missing, result.duplicated) == (0, 0), result
    assert result.landed_rows == result.distinct_ids == 60_000


def test_terminated_database_connections_are_survived(stack: Settings, warehouse: str) -> None:
    # Given the continuous job ingesting 200,000 scans in small batches
    topic = f"test.scans.pgkill.{uuid.uuid4().hex[:8]}"
    job = f"test-pgkill-{topic[-8:]}"
    n = 200_000
    bench.produce_scans(stack.kafka.connection, topic, n)
    cmd = bench.job_command(
        [f"{topic}:scans"],
        job,
        "continuous",
        stack.home / "spark" / "checkpoints" / job,
        ["--trigger-seconds", "0.5", "--max-offsets-per-trigger", "10000"],
    )
    proc = bench.start_job(cmd, stack.log_dir / f"{job}.log")
    admin = stack.postgres.dsn(config.DB_WAREHOUSE)
    terminated = 0
    stop = threading.Event()

    def terminate_backends() -> None:
        nonlocal terminated
        with psycopg.connect(admin, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where application_name = %s and datname = %s",
                    (f"tillflow-ingest/{job}"[:63], config.DB_WAREHOUSE),
                ).fetchone()
                terminated += int(row[0]) if row else 0
                time.sleep(1.5)

    try:
        # When its database connections are terminated every 1.5 s while it runs
        deadline = time.monotonic() + 300
        while bench.landed_count(warehouse, topic) == 0 and time.monotonic() < deadline:
            assert proc.poll() is None, "job died before landing anything"
            time.sleep(0.5)
        killer = threading.Thread(target=terminate_backends, daemon=True)
        killer.start()
        time.sleep(15)
        stop.set()
        killer.join(10)
        while bench.landed_count(warehouse, topic) < n and time.monotonic() < deadline:
            assert proc.poll() is None, "job died instead of recovering"
            time.sleep(0.5)
        # Then it recovered by itself and every scan landed exactly once
        rows, distinct, missing, dup = bench.id_check(warehouse, topic, n)
        assert terminated > 0
        assert (rows, distinct, missing, dup) == (n, n, 0, 0)
    finally:
        stop.set()
        bench.kill_job(proc)
        bench.cleanup(warehouse, [topic], [job])
        bench.delete_topics(stack.kafka.connection, [topic])
        bench.drop_checkpoints(stack, [job])
