"""`tillflow bench fetch-depth`: how many record batches a partition of the local broker can hold
before a fetch at its tail comes back empty, for several values of ``fetch.wait.max.ms``.

Tansu's memory storage keeps each produced record batch as one object and, on every fetch,
lists the partition's objects in offset order to find the ones at or past the fetch offset;
the listing stops when the fetch's wait (``fetch.wait.max.ms``) has run out. A partition whose
listing takes longer than a consumer's wait therefore answers that consumer's fetches at its
tail with nothing, again and again, while ``ListOffsets`` and other consumers see the records:
the stall the soak drill showed (continuous ingestion idle for minutes with the broker ahead).
The listing grows with the number of batches, not records, so small batches (many producers,
a short linger, a high speed-up) reach the limit first.

The bench starts a broker of its own (``own_broker``), fills one partition with single-record batches
in steps and, after each step, fetches the last record with a new consumer per wait: served
(with the time it took) or not within ``--timeout`` seconds. The table says which waits the
platform's profiles (``kafka_profiles``) can keep and how large batches must be.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from tillflow.adapters import kafka
from tillflow.config import KafkaConnection
from tillflow_bench.own_broker import BrokerDidNotStart, own_broker

DEFAULT_WAITS = (2, 10, 50, 100, 500)
DEFAULT_DEPTHS = (1_000, 10_000, 50_000, 100_000, 200_000)


@dataclass(frozen=True)
class TailFetch:
    wait_ms: int
    served: bool
    seconds: float  # to the first record, or the timeout

    def cell(self) -> str:
        return f"{1000 * self.seconds:7.0f} ms" if self.served else "    empty "


def fill(connection: KafkaConnection, topic: str, batches: int) -> None:
    """``batches`` single-record batches into partition 0 of ``topic``."""
    producer = kafka.producer(connection, {"acks": "all", "linger.ms": 0, "batch.num.messages": 1})
    for i in range(batches):
        while True:
            try:
                producer.produce(topic, b"x" * 100, partition=0)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"{topic}: {left} records not acknowledged within 60 s")


def fetch_tail(
    connection: KafkaConnection, topic: str, offset: int, wait_ms: int, timeout: float
) -> TailFetch:
    """A new consumer at ``offset`` of partition 0: does the broker serve it?"""
    from confluent_kafka import TopicPartition

    consumer = kafka.reader(
        connection,
        {"group.id": "tillflow-bench-fetch-depth", "fetch.wait.max.ms": wait_ms},
    )
    try:
        consumer.assign([TopicPartition(topic, 0, offset)])
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            msg = consumer.poll(0.1)
            if msg is not None and msg.error() is None:
                return TailFetch(wait_ms, True, time.monotonic() - start)
        return TailFetch(wait_ms, False, timeout)
    finally:
        consumer.close()


def limits(waits: tuple[int, ...], rows: list[tuple[int, list[TailFetch]]]) -> list[str]:
    """Per wait, the deepest partition whose tail was served and the shallowest that was not."""
    lines = []
    for i, wait in enumerate(waits):
        served = [depth for depth, fetches in rows if fetches[i].served]
        empty = [depth for depth, fetches in rows if not fetches[i].served]
        limit = f"served up to {max(served):,} batches" if served else "served at no depth tried"
        if empty:
            limit += f", empty from {min(empty):,}"
        lines.append(f"  fetch.wait.max.ms={wait:<4} {limit}")
    return lines


def run(
    waits: tuple[int, ...] = DEFAULT_WAITS,
    depths: tuple[int, ...] = DEFAULT_DEPTHS,
    timeout: float = 5.0,
) -> int:
    from confluent_kafka.admin import NewTopic

    rows: list[tuple[int, list[TailFetch]]] = []
    try:
        with own_broker("tillflow-bench-fetch-depth") as (connection, _):
            topic = f"bench.fetch-depth.{uuid.uuid4().hex[:6]}"
            admin = kafka.admin(connection)  # kept: the future fails if its client is collected
            admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
            header = "".join(f"  wait {w:>4} ms" for w in waits)
            print(f"  batches in the partition{header}", flush=True)
            held = 0
            for depth in sorted(depths):
                started = time.monotonic()
                fill(connection, topic, depth - held)
                held = depth
                filled = time.monotonic() - started
                fetches = [fetch_tail(connection, topic, held - 1, w, timeout) for w in waits]
                rows.append((held, fetches))
                cells = "".join(f"  {f.cell():>12}" for f in fetches)
                print(f"  {held:>23,}{cells}   (filled in {filled:.1f} s)", flush=True)
    except BrokerDidNotStart as exc:
        print(f"  {exc}")
        return 1
    print("\n".join(limits(waits, rows)))
    return 0
