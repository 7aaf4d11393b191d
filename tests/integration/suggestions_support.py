"""Helpers for the suggestion integration tests.

Every row the tests create has an id in E's own range [8,600,000, 9,000,000), allocated under an
advisory lock (max + 1), so runs never collide with each other, with the generators' data or
with other engineers' fixtures (B uses >= 9,000,000). Nothing is truncated or deleted.

Order events are produced by the tests themselves, in the contract format (a Debezium envelope
of an ``order_events`` row), into the tests' own topics; the orders and their lines are inserted
into OLTP directly (without an outbox row, so the real CDC never publishes them).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import redis

from tillflow.adapters import kafka
from tillflow.adapters.migrations import migrate
from tillflow.config import DB_OLTP, Settings, TopicLayout
from tillflow.domain.suggestions.events import outbox_envelope
from tillflow.domain.suggestions.rule import Order, OrderLine
from tillflow.jobs.suggestions.cache import CDC_TABLES

ID_MIN = 8_600_000
ID_MAX = 9_000_000  # orders_support.py starts at 9,000,000
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def settings() -> Settings:
    return Settings.from_env()


def api_dsn() -> str:
    s = settings()
    return s.postgres.dsn(DB_OLTP, s.postgres.api)


def admin_dsn() -> str:
    return settings().postgres.dsn(DB_OLTP)


def allocate(conn: psycopg.Connection[Any], table: str, column: str, n: int) -> list[int]:
    """``n`` fresh ids of ``table.column`` in E's range (call inside a transaction)."""
    conn.execute("select pg_advisory_xact_lock(hashtext('tillflow-suggestion-tests'))")
    row = conn.execute(
        f"select coalesce(max({column}), %s) from {table} where {column} >= %s and {column} < %s",
        (ID_MIN - 1, ID_MIN, ID_MAX),
    ).fetchone()
    assert row is not None
    start = int(row[0]) + 1
    if start + n > ID_MAX:
        raise RuntimeError(f"E's id range of {table} is exhausted")
    return list(range(start, start + n))


@dataclass
class Catalogue:
    """The tests' own reference rows: a store, two categories of products, customers, methods."""

    store_id: int
    categories: list[int]
    #: product id -> (category, price, frequency)
    products: dict[int, tuple[int, Decimal, float]]
    diamond: list[int]
    regular: list[int]
    acb: int  # bank_transfer, ACB
    other_bank: int  # bank_transfer, VCB
    cash: int
    orders: list[Order] = field(default_factory=list)

    def by_category(self, category: int) -> list[int]:
        return [p for p, (c, _, _) in self.products.items() if c == category]


def create_catalogue(n_products: int = 8, n_customers: int = 6) -> Catalogue:
    migrate(api_dsn(), DB_OLTP)
    with psycopg.connect(admin_dsn()) as conn, conn.transaction():
        (store,) = allocate(conn, "stores", "store_id", 1)
        conn.execute(
            "insert into stores (store_id, name, address, city, state, postal_code, latitude,"
            " longitude, timezone, opened_on) values (%s, 'E test store', '6 Test St',"
            " 'Testville', 'NY', '10001', 40.7, -74.0, 'America/New_York', '2020-01-01')",
            (store,),
        )
        categories = allocate(conn, "item_categories", "category_id", 2)
        for c in categories:
            conn.execute(
                "insert into item_categories (category_id, name) values (%s, %s)",
                (c, f"e-test-{c}"),
            )
        ids = allocate(conn, "item_master", "item_id", 2 * n_products)
        products: dict[int, tuple[int, Decimal, float]] = {}
        for i, item_id in enumerate(ids):
            category = categories[i % 2]
            price = Decimal(f"{1 + (i * 37) % 90}.{(i * 13) % 100:02d}")
            frequency = float(100 - i)
            products[item_id] = (category, price, frequency)
            conn.execute(
                "insert into item_master (item_id, upc, name, category_id, unit_price, frequency)"
                " values (%s, %s, %s, %s, %s, %s)",
                (item_id, f"E{item_id}", f"e test item {item_id}", category, price, frequency),
            )
        customers = allocate(conn, "customers", "customer_id", n_customers)
        half = n_customers // 2
        for i, cid in enumerate(customers):
            conn.execute(
                "insert into customers (customer_id, name, email, tier) values (%s, %s, %s, %s)",
                (cid, f"E customer {cid}", f"e{cid}@example.com",
                 "diamond" if i < half else "gold"),
            )  # fmt: skip
        acb, other, cash = allocate(conn, "payment_methods", "payment_method_id", 3)
        for pid, method, bank in ((acb, "bank_transfer", "ACB"), (other, "bank_transfer", "VCB"),
                                  (cash, "cash", None)):  # fmt: skip
            conn.execute(
                "insert into payment_methods (payment_method_id, method, bank, name)"
                " values (%s, %s, %s, %s)",
                (pid, method, bank, f"E {method} {bank or ''}"),
            )
    return Catalogue(
        store_id=store,
        categories=categories,
        products=products,
        diamond=customers[:half],
        regular=customers[half:],
        acb=acb,
        other_bank=other,
        cash=cash,
    )


def random_orders(cat: Catalogue, n: int, rng: random.Random) -> list[Order]:
    """``n`` orders inserted into OLTP (orders + order_details, no outbox row): about a third
    qualify (diamond customer paying by ACB transfer)."""
    customers = cat.diamond + cat.regular
    methods = [cat.acb, cat.acb, cat.other_bank, cat.cash]
    product_ids = sorted(cat.products)
    with psycopg.connect(admin_dsn()) as conn, conn.transaction():
        ids = allocate(conn, "orders", "order_id", n)
        orders: list[Order] = []
        for order_id in ids:
            chosen = rng.sample(product_ids, rng.randint(1, 4))
            lines = tuple(
                OrderLine(
                    line_no=i + 1,
                    product_id=p,
                    quantity=rng.randint(1, 3),
                    unit_price=cat.products[p][1],
                )
                for i, p in enumerate(chosen)
            )
            orders.append(
                Order(
                    order_id=order_id,
                    customer_id=rng.choice(customers),
                    payment_method_id=rng.choice(methods),
                    store_id=cat.store_id,
                    ordered_at="2026-11-21T10:00:00.000Z",
                    lines=lines,
                )
            )
        insert_orders(conn, orders)
    cat.orders.extend(orders)
    return orders


def insert_orders(conn: psycopg.Connection[Any], orders: Sequence[Order]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "insert into orders (order_id, customer_id, payment_method_id, store_id, ordered_at)"
            " values (%s, %s, %s, %s, %s)",
            [
                (o.order_id, o.customer_id, o.payment_method_id, o.store_id, o.ordered_at)
                for o in orders
            ],
        )
        cur.executemany(
            "insert into order_details (order_id, line_no, product_id, quantity, unit_price,"
            " subtotal) values (%s, %s, %s, %s, %s, %s)",
            [
                (o.order_id, ln.line_no, ln.product_id, ln.quantity, ln.unit_price, ln.value)
                for o in orders
                for ln in o.lines
            ],
        )


def qualifies(cat: Catalogue, order: Order, diamond: Sequence[int] | None = None) -> bool:
    return order.customer_id in (cat.diamond if diamond is None else diamond) and (
        order.payment_method_id == cat.acb
    )


# --- Kafka -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestTopics:
    base: str

    @property
    def orders(self) -> str:
        return f"{self.base}.orders"

    @property
    def suggestions(self) -> str:
        return f"{self.base}.suggestions"

    @property
    def cdc_prefix(self) -> str:
        return f"{self.base}.cdc"

    def cdc(self, table: str) -> str:
        return f"{self.cdc_prefix}.public.{table}"

    def all(self) -> list[str]:
        return [self.orders, self.suggestions, *(self.cdc(t) for t in CDC_TABLES)]


def new_topics() -> TestTopics:
    topics = TestTopics(f"e.test.{uuid.uuid4().hex[:10]}")
    kafka.ensure_topics(settings().kafka.connection, topics.all(), TopicLayout(partitions=2))
    return topics


def produce_orders(topic: str, orders: Sequence[Order], rate: float | None = None) -> None:
    producer = kafka.producer(settings().kafka.connection, **{"linger.ms": 0})
    gap = 1.0 / rate if rate else 0.0
    for i, order in enumerate(orders):
        value = json.dumps(outbox_envelope(order, event_id=order.order_id))
        producer.produce(topic, key=str(order.order_id).encode(), value=value.encode())
        producer.poll(0)
        if gap:
            time.sleep(gap)
        if i % 1000 == 999:
            producer.flush(10)
    assert producer.flush(30) == 0


def produce_json(topic: str, key: str, value: dict[str, Any]) -> None:
    producer = kafka.producer(settings().kafka.connection, **{"linger.ms": 0})
    producer.produce(topic, key=key.encode(), value=json.dumps(value).encode())
    assert producer.flush(10) == 0


def read_topic(topic: str, idle: float = 1.5, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every message of ``topic`` from the beginning (stops after ``idle`` s without one)."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    consumer = kafka.consumer(settings().kafka.connection, f"e-test-reader-{uuid.uuid4().hex}")
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    out: list[dict[str, Any]] = []
    last = time.monotonic()
    deadline = last + timeout
    try:
        while time.monotonic() - last < idle and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            out.append(json.loads(msg.value() or b"null"))
            last = time.monotonic()
    finally:
        consumer.close()
    return out


# --- the service as a subprocess ----------------------------------------------------------------
class ServiceProcess:
    """``python -m tillflow.jobs.suggestions.consumer`` on the tests' topics, prefix and group."""

    def __init__(self, topics: TestTopics, tmp: Path, park_after: float | None = None) -> None:
        self.topics = topics
        self.park_after = park_after
        self.prefix = f"tillflow:test:{topics.base}"
        self.group = f"{topics.base}.group"
        self.heartbeat = tmp / "heartbeat.json"
        self.log = tmp / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = datetime.now(UTC)

    def start(self, timeout: float = 60) -> None:
        self.heartbeat.unlink(missing_ok=True)
        self.started_at = datetime.now(UTC)
        argv = [
            sys.executable, "-m", "tillflow.jobs.suggestions.consumer",
            "--orders-topic", self.topics.orders,
            "--suggestions-topic", self.topics.suggestions,
            "--cdc-prefix", self.topics.cdc_prefix,
            "--group", self.group,
            "--prefix", self.prefix,
            "--heartbeat", str(self.heartbeat),
            "--no-migrate",
            *(["--park-after", str(self.park_after)] if self.park_after is not None else []),
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {self.log.read_text()[-3000:]}")
            try:
                state = json.loads(self.heartbeat.read_text()).get("state")
            except (OSError, ValueError):
                state = None
            if state == "running":
                return
            time.sleep(0.1)
        raise RuntimeError(f"service not running after {timeout}s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean-up at all
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def drop_cache(self) -> None:
        s = settings()
        client = redis.Redis(s.redis.host, s.redis.port)
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


def suggested_lines(order_ids: Sequence[int]) -> list[tuple[int, int, int, Decimal, str, Decimal]]:
    """(order_id, line_no, product_id, unit_price, discount_type, discount_value) of every
    suggested line of these orders."""
    with psycopg.connect(admin_dsn()) as conn:
        return conn.execute(  # type: ignore[return-value]
            "select order_id, line_no, product_id, unit_price, discount_type, discount_value"
            " from order_details where is_suggestion and order_id = any(%s)",
            (list(order_ids),),
        ).fetchall()


def outbox_rows(order_ids: Sequence[int]) -> list[tuple[int, dict[str, Any]]]:
    with psycopg.connect(admin_dsn()) as conn:
        return conn.execute(  # type: ignore[return-value]
            "select order_id, payload from order_events"
            " where event_type = 'suggestion_added' and order_id = any(%s)",
            (list(order_ids),),
        ).fetchall()


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
