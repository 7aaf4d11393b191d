"""`tillflow bench suggestions`: latency at a fixed order rate, then throughput at full speed.

The real service (``python -m tillflow.jobs.suggestions.consumer``, a subprocess) runs on the bench's
own topics, Redis prefix and a scratch OLTP database (``tillflow_bench_oltp``, created anew
and dropped at the end of each run: the OLTP
migrations, a seeded catalogue of 3,200 products, diamond customers and ACB transfers), so the
bench never touches the platform's data or its CDC stream. Every bench order qualifies, so
every order takes the whole path: Redis lookup, the OLTP statement (claim + line + outbox row),
the publish and its acknowledgement.

Latency of one order = the time the broker acknowledged its suggestion on
``order_suggestion_accepted`` (the service's delivery callback) minus the time the broker
acknowledged the order event (the bench producer's delivery callback): "from the order event
being available in the broker to the suggestion published". Both clocks are this machine's.
Throughput = orders / (last suggestion acknowledged - start of producing the backlog), the
backlog being produced at once.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tillflow.adapters import kafka
from tillflow.adapters import kafka_profiles as profiles
from tillflow.adapters.warehouse import drop_database, recreate_database
from tillflow.config import Settings
from tillflow.domain.suggestions.events import outbox_envelope
from tillflow.domain.suggestions.rule import Order, OrderLine
from tillflow_bench import children
from tillflow_bench.stats import percentile

BENCH_DB = "tillflow_bench_oltp"
CATEGORIES = 32
ITEMS_PER_CATEGORY = 100
CUSTOMERS = 1000
ACB_METHOD = 1
TARGET_P99_MS = 10.0
TARGET_THROUGHPUT = 5000.0
#: An order's path in the latency phase, stage by stage: order acked by the broker -> consumed
#: by the service -> decided (parse, Redis) -> stored (OLTP commit) -> suggestion acked.
STAGES = ("broker to service", "decide", "queue and store", "publish")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class BenchResult:
    rate: float
    latency_orders: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    throughput_orders: int
    throughput: float
    #: stage -> (p50 ms, p99 ms) in the latency phase
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)

    def meets_targets(self) -> bool:
        return self.p99_ms <= TARGET_P99_MS and self.throughput >= TARGET_THROUGHPUT

    def lines(self) -> list[str]:
        ok_lat = "ok" if self.p99_ms <= TARGET_P99_MS else "MISSED"
        ok_tp = "ok" if self.throughput >= TARGET_THROUGHPUT else "MISSED"
        return [
            f"latency at {self.rate:.0f} orders/s over {self.latency_orders} orders "
            f"(order event acked -> suggestion acked): p50 {self.p50_ms:.2f} ms, "
            f"p95 {self.p95_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms "
            f"[target p99 <= {TARGET_P99_MS:.0f} ms: {ok_lat}]",
            "  where the time goes, p50 / p99 ms: "
            + ", ".join(
                f"{name} {p50:.2f} / {p99:.2f}" for name, (p50, p99) in self.stages.items()
            ),
            f"throughput over a backlog of {self.throughput_orders} orders: "
            f"{self.throughput:,.0f} orders/s [target >= {TARGET_THROUGHPUT:,.0f}: {ok_tp}]",
        ]


# --- the scratch OLTP database ----------------------------------------------------------------
def fresh_bench_database(settings: Settings) -> str:
    """Create, migrate and seed the scratch database anew; return its DSN (the API role).

    Anew on every run, so that each run starts from the same state: the orders of earlier runs
    left in it made later runs measurably slower."""
    import psycopg

    from tillflow.adapters.migrations import migrate

    pg = settings.postgres
    recreate_database(pg.dsn("postgres"), BENCH_DB, pg.api.name)
    dsn = pg.dsn(BENCH_DB, pg.api)
    migrate(dsn, "oltp")
    with psycopg.connect(dsn) as conn, conn.transaction():
        rng = random.Random(6)
        conn.execute(
            "insert into stores (store_id, name, address, city, state, postal_code, latitude,"
            " longitude, timezone, opened_on) values (1, 'bench', '1 Bench St', 'Benchville',"
            " 'NY', '10001', 40.7, -74.0, 'America/New_York', '2020-01-01')"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into item_categories (category_id, name) values (%s, %s)",
                [(c, f"bench category {c}") for c in range(1, CATEGORIES + 1)],
            )
            items = [
                (c * 1000 + i, f"B{c:02d}{i:04d}", f"bench item {c}-{i}", c,
                 Decimal(rng.randint(50, 9999)) / 100, rng.random() * 100 + 0.01)
                for c in range(1, CATEGORIES + 1)
                for i in range(ITEMS_PER_CATEGORY)
            ]  # fmt: skip
            cur.executemany(
                "insert into item_master (item_id, upc, name, category_id, unit_price, frequency)"
                " values (%s, %s, %s, %s, %s, %s)",
                items,
            )
            cur.executemany(
                "insert into customers (customer_id, name, email, tier) values (%s, %s, %s, %s)",
                [(i, f"bench {i}", f"b{i}@example.com", "diamond" if i % 5 == 0 else "gold")
                 for i in range(1, CUSTOMERS + 1)],
            )  # fmt: skip
            cur.executemany(
                "insert into payment_methods (payment_method_id, method, bank, name)"
                " values (%s, %s, %s, %s)",
                [(ACB_METHOD, "bank_transfer", "ACB", "ACB transfer"),
                 (2, "bank_transfer", "VCB", "VCB transfer"), (3, "cash", None, "cash")],
            )  # fmt: skip
    return dsn


def settle_database(settings: Settings) -> None:
    """Vacuum, analyze and checkpoint the scratch database after the bulk set-up, so that
    autovacuum and the checkpointer do not run during the measured phases."""
    import psycopg

    with psycopg.connect(settings.postgres.dsn(BENCH_DB), autocommit=True) as conn:
        conn.execute("vacuum analyze")
        conn.execute("checkpoint")


def make_orders(dsn: str, n: int, seed: int) -> list[Order]:
    """``n`` qualifying orders (diamond customer, ACB transfer), written to the scratch database
    with COPY (orders + lines; no outbox row: the bench produces the events itself)."""
    import psycopg

    rng = random.Random(seed)
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("lock table orders in share row exclusive mode")
        row = conn.execute("select coalesce(max(order_id), 0) from orders").fetchone()
        start = int(row[0] if row else 0) + 1
        rows = conn.execute("select item_id, unit_price from item_master").fetchall()
        prices: dict[int, Decimal] = {int(r[0]): r[1] for r in rows}
        item_ids = sorted(prices)
        diamond = [i for i in range(1, CUSTOMERS + 1) if i % 5 == 0]
        orders: list[Order] = []
        for order_id in range(start, start + n):
            chosen = rng.sample(item_ids, rng.randint(1, 4))
            lines = tuple(
                OrderLine(i + 1, p, rng.randint(1, 3), Decimal(prices[p]))
                for i, p in enumerate(chosen)
            )
            orders.append(
                Order(order_id, rng.choice(diamond), ACB_METHOD, 1, "2026-11-21T10:00:00.000Z",
                      lines)
            )  # fmt: skip
        with conn.cursor().copy(
            "copy orders (order_id, customer_id, payment_method_id, store_id, ordered_at)"
            " from stdin"
        ) as copy:
            for o in orders:
                copy.write_row((o.order_id, o.customer_id, o.payment_method_id, 1, o.ordered_at))
        with conn.cursor().copy(
            "copy order_details (order_id, line_no, product_id, quantity, unit_price, subtotal)"
            " from stdin"
        ) as copy:
            for o in orders:
                for ln in o.lines:
                    copy.write_row(
                        (o.order_id, ln.line_no, ln.product_id, ln.quantity, ln.unit_price,
                         ln.value)
                    )  # fmt: skip
        conn.execute(
            "select setval(pg_get_serial_sequence('orders', 'order_id'), %s)", (start + n,)
        )
    return orders


# --- the run ---------------------------------------------------------------------------------
class _Acks:
    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self.errors = 0

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors += 1
            return
        self.at[int(msg.key())] = time.time()


def _read_log(path: Path) -> dict[int, tuple[float, ...]]:
    """The service's latency log: order id -> (acked, consumed, decided, stored) times."""
    out: dict[int, tuple[float, ...]] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5:
            out.setdefault(int(parts[0]), tuple(float(p) for p in parts[1:]))
    return out


def stage_breakdown(
    logged: Mapping[int, tuple[float, ...]], order_acked: Mapping[int, float]
) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of each stage of an order's path, from the bench's and the service's
    clocks (one machine, so one clock)."""
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for order_id, (acked, consumed, decided, stored) in logged.items():
        if order_id not in order_acked:
            continue
        marks = (order_acked[order_id], consumed, decided, stored, acked)
        for name, start, end in zip(STAGES, marks, marks[1:], strict=False):
            stages[name].append((end - start) * 1000)
    out = {}
    for name, values in stages.items():
        values.sort()
        out[name] = (percentile(values, 0.50), percentile(values, 0.99))
    return out


def _wait_logged(path: Path, ids: Sequence[int], timeout: float) -> dict[int, tuple[float, ...]]:
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while True:
        logged = _read_log(path)
        if wanted <= logged.keys() or time.monotonic() > deadline:
            return logged
        time.sleep(0.2)


def _encode(order: Order) -> bytes:
    return json.dumps(outbox_envelope(order, event_id=order.order_id)).encode()


def run(
    settings: Settings,
    rate: float = 100.0,
    seconds: float = 10.0,
    backlog: int = 20_000,
    echo: Echo = print,
) -> BenchResult:
    dsn = fresh_bench_database(settings)
    run_id = uuid.uuid4().hex[:8]
    orders_topic = f"e.bench.{run_id}.orders"
    suggestions_topic = f"e.bench.{run_id}.suggestions"
    connection = settings.kafka.connection
    kafka.ensure_topics(connection, {orders_topic: 1, suggestions_topic: 1})
    prefix = f"tillflow:bench:{run_id}"
    tmp = Path(tempfile.mkdtemp(prefix="tillflow-bench-"))
    latency_log = tmp / "latency.log"
    heartbeat = tmp / "heartbeat.json"
    n_latency = max(1, int(rate * seconds))
    echo(f"preparing {n_latency + backlog:,} orders in {BENCH_DB} ...")
    latency_orders = make_orders(dsn, n_latency, seed=1)
    backlog_orders = make_orders(dsn, backlog, seed=2)
    settle_database(settings)
    argv = [
        sys.executable, "-m", "tillflow.jobs.suggestions.consumer",
        "--orders-topic", orders_topic, "--suggestions-topic", suggestions_topic,
        "--cdc-prefix", f"e.bench.{run_id}.cdc", "--group", f"e.bench.{run_id}",
        "--prefix", prefix, "--oltp-dsn", dsn, "--heartbeat", str(heartbeat),
        "--latency-log", str(latency_log), "--no-migrate",
    ]  # fmt: skip
    log_file = settings.log_dir / "bench-suggestions.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        _wait_running(heartbeat, proc, log_file)
        producer = kafka.producer(connection, profiles.LOW_LATENCY_PRODUCER)
        # warm-up: a few orders through the whole path (connections, prepared statements)
        warm = make_orders(dsn, 20, seed=3)
        for o in warm:
            producer.produce(orders_topic, key=str(o.order_id), value=_encode(o))
        producer.flush(10)
        _wait_logged(latency_log, [o.order_id for o in warm], 30)

        echo(f"latency: {n_latency} orders at {rate:.0f}/s for {seconds:.0f} s ...")
        acks = _Acks()
        gap = 1.0 / rate
        start = time.perf_counter()
        for i, o in enumerate(latency_orders):
            due = start + i * gap
            while (left := due - time.perf_counter()) > 0:
                producer.poll(min(left, 0.001))
            producer.produce(orders_topic, key=str(o.order_id), value=_encode(o), on_delivery=acks)
            producer.poll(0)
        producer.flush(30)
        ids = [o.order_id for o in latency_orders]
        logged = _wait_logged(latency_log, ids, 60)
        lat = sorted(
            (logged[i][0] - acks.at[i]) * 1000 for i in ids if i in logged and i in acks.at
        )
        stages = stage_breakdown({i: logged[i] for i in ids if i in logged}, acks.at)
        if len(lat) < len(ids):
            echo(f"warning: {len(ids) - len(lat)} orders without a measured suggestion")

        echo(f"throughput: a backlog of {backlog:,} orders ...")
        # Encoded first and produced in large batches: the broker (Tansu) serves about one
        # record batch per fetch, so a backlog of single-message batches drains far slower.
        values = [(str(o.order_id), _encode(o)) for o in backlog_orders]
        batcher = kafka.producer(connection, **{"linger.ms": 20})
        acks_tp = _Acks()
        started = time.time()  # conservative: the clock starts before the first produce
        for key, value in values:
            batcher.produce(orders_topic, key=key, value=value, on_delivery=acks_tp)
        batcher.flush(60)
        ids_tp = [o.order_id for o in backlog_orders]
        logged = _wait_logged(latency_log, ids_tp, 180)
        done = [logged[i][0] for i in ids_tp if i in logged]
        throughput = len(done) / (max(done) - started) if done else 0.0
        if len(done) < len(ids_tp):
            echo(f"warning: only {len(done)} of {len(ids_tp)} backlog orders were suggested")
    finally:
        children.stop(proc, 20)
        _cleanup(settings, prefix, [orders_topic, suggestions_topic])
        drop_database(settings.postgres.dsn("postgres"), BENCH_DB)
    return BenchResult(
        rate=rate,
        latency_orders=len(lat),
        p50_ms=percentile(lat, 0.50),
        p95_ms=percentile(lat, 0.95),
        p99_ms=percentile(lat, 0.99),
        max_ms=lat[-1] if lat else float("nan"),
        throughput_orders=len(done),
        throughput=throughput,
        stages=stages,
    )


def _wait_running(heartbeat: Path, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    from tillflow.jobs.suggestions.consumer import read_heartbeat

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited; see {log_file}")
        beat = read_heartbeat(heartbeat)
        if beat is not None and beat.get("state") == "running":
            return
        time.sleep(0.1)
    raise RuntimeError(f"the service did not start within 60 s; see {log_file}")


def _cleanup(settings: Settings, prefix: str, topics: list[str]) -> None:
    import redis

    client = redis.Redis(settings.redis.host, settings.redis.port)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    try:
        admin = kafka.admin(settings.kafka.connection)  # kept alive until the futures resolve
        for future in admin.delete_topics(topics).values():
            future.result(timeout=10)
    except Exception:  # the broker keeps them; they are the bench's own
        pass
