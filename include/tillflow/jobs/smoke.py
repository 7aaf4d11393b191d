"""Round trips through every service of the platform: the smoke pipeline of `make demo`.

Each check writes something unique, reads it back and reports how long the round trip took.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from tillflow.adapters import kafka
from tillflow.config import KafkaConnection, SparkSettings


@dataclass(frozen=True)
class CheckResult:
    service: str
    ok: bool
    detail: str
    millis: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timed(service: str, fn: Any) -> CheckResult:
    t0 = time.perf_counter()
    detail = fn()
    return CheckResult(service, True, detail, round((time.perf_counter() - t0) * 1000, 1))


def postgres_roundtrip(dsn: str, label: str) -> CheckResult:
    """Write a row into a temp table and read it back."""
    import psycopg

    def run() -> str:
        token = uuid.uuid4().hex
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("create temp table smoke (token text)")
            conn.execute("insert into smoke values (%s)", (token,))
            row = conn.execute("select token, current_database(), version() from smoke").fetchone()
        assert row is not None and row[0] == token, "row read back differs from row written"
        return f"db={row[1]} {row[2].split(' on ')[0]}"

    return _timed(label, run)


def kafka_roundtrip(connection: KafkaConnection, topic: str, timeout: float = 20.0) -> CheckResult:
    """Produce one unique message and consume it back from its partition."""
    from confluent_kafka import TopicPartition

    def run() -> str:
        kafka.ensure_topics(connection, {topic: 1})
        token = uuid.uuid4().hex.encode()
        delivered: list[Any] = []
        prod = kafka.producer(connection)
        prod.produce(topic, token, on_delivery=lambda err, msg: delivered.append((err, msg)))
        prod.flush(10)
        err, msg = delivered[0]
        if err is not None:
            raise RuntimeError(f"produce failed: {err}")
        cons = kafka.consumer(connection, f"smoke-{token.decode()}")
        cons.assign([TopicPartition(topic, msg.partition(), msg.offset())])
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                got = cons.poll(0.5)
                if got is not None and got.error() is None and got.value() == token:
                    return f"topic={topic} offset={got.offset()}"
        finally:
            cons.close()
        raise TimeoutError(f"message not consumed back from {topic} within {timeout}s")

    return _timed("kafka", run)


def redis_roundtrip(host: str, port: int) -> CheckResult:
    import redis

    def run() -> str:
        client = redis.Redis(host, port, socket_timeout=5)
        key, token = f"tillflow:smoke:{uuid.uuid4().hex}", uuid.uuid4().hex
        client.set(key, token, ex=60)
        got = client.get(key)
        assert isinstance(got, bytes) and got.decode() == token, "value read back differs"
        return f"redis {client.info('server')['redis_version']}"

    return _timed("redis", run)


def spark_roundtrip(settings: SparkSettings) -> CheckResult:
    """Start a Spark session and run a small aggregation."""
    from tillflow.adapters.spark import session

    master = settings.master

    def run() -> str:
        spark = session("tillflow-smoke", settings)
        try:
            total = spark.range(0, 100_000).selectExpr("sum(id) as s").collect()[0]["s"]
            assert total == 100_000 * 99_999 // 2, f"unexpected sum {total}"
            return f"spark {spark.version} {master}"
        finally:
            spark.stop()

    return _timed("spark", run)
