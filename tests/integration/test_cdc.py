"""CDC end to end: OLTP changes -> Debezium embedded engine -> Kafka, and a SIGKILL mid-stream.

Each test module runs its OWN CDC process (own slot, own topic prefix, own offsets folder), so
the stack's CDC service and other engineers' consumers are untouched; the slot is dropped after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.orders_support import (
    FIXTURE_BASE,
    PROJECT_ROOT,
    Refs,
    admin_dsn,
    api_dsn,
    ensure_reference,
    settings,
)
from tillflow.adapters.kafka import consumer_config

pytestmark = pytest.mark.integration


class CdcProcess:
    def __init__(self, state_dir: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.slot = f"tillflow_test_{tag}"
        self.prefix = f"tftest{tag}"
        self.state_dir = state_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "TILLFLOW_CDC_SLOT": self.slot,
            "TILLFLOW_CDC_TOPIC_PREFIX": self.prefix,
            "TILLFLOW_CDC_STATE_DIR": str(state_dir),
            "TILLFLOW_CDC_SNAPSHOT_MODE": "no_data",
        }

    def topic(self, table: str) -> str:
        return f"{self.prefix}.public.{table}"

    def _slot_active(self) -> bool:
        with psycopg.connect(admin_dsn()) as conn:
            row = conn.execute(
                "select active from pg_replication_slots where slot_name = %s", (self.slot,)
            ).fetchone()
        return bool(row and row[0])

    def start(self, timeout: float = 90) -> None:
        log = open(self.state_dir / "cdc.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tillflow.jobs.cdc"],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.state_dir / "cdc.log").read_text()[-3000:]
            if self._slot_active():
                return
            time.sleep(0.2)
        raise AssertionError("CDC did not start streaming its slot")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        # The walsender notices the dead client quickly; wait until the slot is free again.
        deadline = time.monotonic() + 30
        while self._slot_active() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def drop_slot(self) -> None:
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while self._slot_active() and time.monotonic() < deadline:
                time.sleep(0.2)
            conn.execute(
                "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
                " where slot_name = %s",
                (self.slot,),
            )


class TopicReader:
    """Reads whole topics from the beginning (assign, no group join), recording arrival times."""

    def __init__(self, topics: list[str]) -> None:
        from confluent_kafka import Consumer, TopicPartition

        bootstrap = settings().kafka.connection
        self.consumer = Consumer(consumer_config(bootstrap, f"tillflow-test-{uuid.uuid4().hex}"))
        partitions = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            partitions += [TopicPartition(topic, p, 0) for p in meta.partitions]
        self.consumer.assign(partitions)
        self.records: list[tuple[float, str, Any, Any]] = []  # (arrival, topic, key, value)

    def poll_until(self, done: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done(self.records):
            for msg in self.consumer.consume(1000, 0.05):
                if msg.error():
                    continue
                value = msg.value()
                self.records.append(
                    (
                        time.time(),
                        msg.topic(),
                        json.loads(msg.key()) if msg.key() else None,
                        json.loads(value) if value else None,
                    )
                )

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture(scope="module")
def refs() -> Refs:
    return ensure_reference()


@pytest.fixture(scope="module")
def cdc(refs: Refs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdcProcess]:
    process = CdcProcess(tmp_path_factory.mktemp("cdc"))
    process.start()
    try:
        yield process
    finally:
        process.stop()
        process.drop_slot()


def test_item_insert_update_delete_each_reach_the_topic_within_2s(
    cdc: CdcProcess, refs: Refs
) -> None:
    item_id = FIXTURE_BASE + 100 + int(uuid.uuid4().int % 50_000)
    reader = TopicReader([cdc.topic("item_master")])
    try:
        commits: dict[str, float] = {}
        reader.poll_until(lambda rs: False, 1.0)  # warm up: fetching before the first change
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            # Given an item inserted, updated and deleted, one commit each
            conn.execute(
                "insert into item_master (item_id, upc, name, category_id, unit_price, frequency)"
                " values (%s, %s, 'cdc test', %s, 1.25, 1)",
                (item_id, f"TEST{item_id}", refs.category_id),
            )
            commits["c"] = time.time()
            reader.poll_until(lambda rs: any(r[3] and r[3]["op"] == "c" for r in rs), 5)
            conn.execute("update item_master set unit_price = 1.50 where item_id = %s", (item_id,))
            commits["u"] = time.time()
            reader.poll_until(lambda rs: any(r[3] and r[3]["op"] == "u" for r in rs), 5)
            conn.execute("delete from item_master where item_id = %s", (item_id,))
            commits["d"] = time.time()

        # When the topic is read
        def complete(rs: list[Any]) -> bool:
            return any(r[3] is None for r in rs)

        reader.poll_until(complete, 5)
    finally:
        reader.close()
    mine = [r for r in reader.records if r[2] == {"item_id": item_id}]
    events = {r[3]["op"]: r for r in mine if r[3] is not None}
    # Then each change arrived within 2 s, with before/after images and string numerics
    assert set(events) == {"c", "u", "d"}, mine
    delays = {op: events[op][0] - commits[op] for op in events}
    assert all(d < 2.0 for d in delays.values()), delays
    assert events["c"][3]["before"] is None and events["c"][3]["after"]["unit_price"] == "1.25"
    assert events["u"][3]["before"]["unit_price"] == "1.25"
    assert events["u"][3]["after"]["unit_price"] == "1.50"
    assert events["d"][3]["before"]["unit_price"] == "1.50" and events["d"][3]["after"] is None
    # And a tombstone (null value, same key) follows the delete
    assert mine[-1][3] is None
    print(f"CDC commit->consumer delay per op (s): {delays}")


def test_a_killed_and_restarted_cdc_misses_no_change(cdc: CdcProcess, refs: Refs) -> None:
    from tillflow.jobs.api import repository
    from tillflow.jobs.api.models import OrderCreate

    items = list(refs.item_prices)
    probe = [FIXTURE_BASE + 60_000 + i for i in range(5)]
    expected_items: set[tuple[int, str]] = set()
    expected_orders: set[int] = set()
    stop = threading.Event()

    def write() -> None:
        """Commit versioned item changes and orders, ~100/s, until told to stop."""
        with (
            psycopg.connect(admin_dsn(), autocommit=True) as conn,
            psycopg.connect(api_dsn()) as api,
        ):
            for item_id in probe:
                conn.execute(
                    "insert into item_master (item_id, upc, name, category_id, unit_price,"
                    " frequency) values (%s, %s, 'v0', %s, 1, 1)"
                    " on conflict (item_id) do update set name = 'v0'",
                    (item_id, f"TEST{item_id}", refs.category_id),
                )
                expected_items.add((item_id, "v0"))
            version = 0
            while not stop.is_set():
                version += 1
                item_id = probe[version % len(probe)]
                conn.execute(
                    "update item_master set name = %s where item_id = %s",
                    (f"v{version}", item_id),
                )
                expected_items.add((item_id, f"v{version}"))
                if version % 5 == 0:
                    order = repository.create_order(
                        api,
                        OrderCreate.model_validate(
                            {
                                "customer_id": refs.customer_id,
                                "payment_method_id": refs.payment_method_id,
                                "store_id": refs.store_id,
                                "products": [{"product_id": items[0], "quantity": 1}],
                            }
                        ),
                    )
                    expected_orders.add(order.order_id)
                time.sleep(0.01)

    reader = TopicReader([cdc.topic("item_master"), cdc.topic("order_events")])
    writer = threading.Thread(target=write)
    try:
        # Given a steady stream of committed changes
        writer.start()
        time.sleep(2)
        # When CDC is SIGKILLed mid-stream, changes continue while it is down, and it restarts
        cdc.kill()
        time.sleep(2)
        cdc.start()
        time.sleep(2)
        stop.set()
        writer.join(30)

        # Then every committed change is in the topics (duplicates allowed: at least once)
        def consumed(rs: list[Any]) -> tuple[set[tuple[int, str]], set[int]]:
            got_items = {
                (r[3]["after"]["item_id"], r[3]["after"]["name"])
                for r in rs
                if r[1].endswith("item_master") and r[3] and r[3]["after"]
            }
            got_orders = {
                r[3]["after"]["order_id"]
                for r in rs
                if r[1].endswith("order_events") and r[3] and r[3]["after"]
            }
            return got_items, got_orders

        def complete(rs: list[Any]) -> bool:
            got_items, got_orders = consumed(rs)
            return expected_items <= got_items and expected_orders <= got_orders

        reader.poll_until(complete, 30)
    finally:
        stop.set()
        reader.close()
    got_items, got_orders = consumed(reader.records)
    assert expected_items - got_items == set()
    assert expected_orders - got_orders == set()
    assert len(expected_items) > 200 and len(expected_orders) > 40
    changes = [r for r in reader.records if r[3] and r[3]["after"]]
    print(
        f"made {len(expected_items)} item changes + {len(expected_orders)} orders; consumed "
        f"{len(changes)} change events ({len(changes) - len(expected_items) - len(expected_orders)}"
        " duplicates after the kill)"
    )


@pytest.fixture
def stack_cdc_paused() -> Iterator[None]:
    """The stack's own CDC stopped for the test (its heartbeats are OLTP changes every slot
    sees), started again after it."""
    env = dict(os.environ)
    cli = [sys.executable, "-m", "tillflow.entrypoints.cli"]
    subprocess.run([*cli, "down", "cdc"], env=env, capture_output=True, timeout=120, check=False)
    try:
        yield
    finally:
        subprocess.run([*cli, "up", "cdc"], env=env, capture_output=True, timeout=180, check=False)


def test_an_open_warehouse_transaction_does_not_hold_the_slot(
    cdc: CdcProcess, stack_cdc_paused: None
) -> None:
    """A logical slot cannot restart past the oldest transaction open on its server. When OLTP
    and the warehouse shared one, a dbt model's transaction (minutes at full scale) held every
    byte of WAL written meanwhile (measured: 0.7 -> 8.57 GB in 70 s at 100 stores). On OLTP's
    own server, the slot moves on while the warehouse's transaction stays open."""
    from tillflow.config import DB_WAREHOUSE

    held = (
        "select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
        " from pg_replication_slots where slot_name = %s"
    )
    tag = uuid.uuid4().hex[:8]
    # Given a warehouse transaction that wrote and stays open
    with psycopg.connect(settings().postgres.dsn(DB_WAREHOUSE)) as warehouse:
        warehouse.execute(f"create temp table open_tx_{tag} (x int)")
        warehouse.execute(f"insert into open_tx_{tag} values (1)")
        # When about 200 MB are written on OLTP's database (a table CDC does not capture)
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            conn.execute(f"create table public.wal_filler_{tag} (body text)")
            try:
                for _ in range(4):
                    conn.execute(
                        f"insert into public.wal_filler_{tag}"
                        " select repeat('x', 500) from generate_series(1, 100000)"
                    )
            finally:
                conn.execute(f"drop table public.wal_filler_{tag}")
            row = conn.execute(held, (cdc.slot,)).fetchone()
            assert row is not None and row[0] > 150 * 2**20, row
            # Then within a few heartbeats the slot no longer holds it, the transaction open
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                row = conn.execute(held, (cdc.slot,)).fetchone()
                assert row is not None
                if row[0] < 32 * 2**20:
                    break
                time.sleep(2)
        assert warehouse.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert row[0] < 32 * 2**20, f"the slot still holds {row[0] / 2**20:.0f} MB"
