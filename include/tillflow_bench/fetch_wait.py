"""`tillflow bench fetch-wait`: what one idle consumer costs the broker, and what its fetch wait
adds to latency, for several values of ``fetch.wait.max.ms``.

The bench starts a broker of its own (the stack's Tansu binary, memory storage, on a free
loopback port; stopped by its pid at the end), so the stack's broker and its clients play no
part. For each wait it

1. assigns one consumer to an empty one-partition topic and measures the broker's CPU (its
   process's utime + stime) over a window in which nothing is produced: the cost of one idle
   consumer fetching in a loop;
2. produces single records at uneven gaps and times each from produce to the consumer's poll:
   if the broker answered a waiting fetch as soon as a record arrived (a long poll with a
   wake-up, as Apache Kafka does with ``fetch.min.bytes``), the latency would not grow with the
   wait.

It answers the idle issue's question for this broker: can a consumer wait for work instead of
polling? The figures say which trade the platform's profiles (``kafka_profiles``) make.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

from tillflow.adapters import kafka
from tillflow.adapters.kafka_profiles import BROKER, LOW_LATENCY_PRODUCER
from tillflow.config import KafkaConnection
from tillflow_bench import idle
from tillflow_bench.own_broker import BrokerDidNotStart, own_broker
from tillflow_bench.stats import percentile

DEFAULT_WAITS = (2, 10, 50, 100, 500)


@dataclass(frozen=True)
class WaitFigures:
    wait_ms: int
    idle_core_share: float  # of one core, the broker's CPU with one idle consumer
    p50_ms: float
    p95_ms: float
    p99_ms: float

    def line(self) -> str:
        return (
            f"  fetch.wait.max.ms={self.wait_ms:<4} broker idle {100 * self.idle_core_share:5.1f} %"
            f" of a core   produce->poll p50 {self.p50_ms:6.1f}  p95 {self.p95_ms:6.1f}"
            f"  p99 {self.p99_ms:6.1f} ms"
        )


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of the bench broker (its own session, so its group is its pid)."""
    return idle.group_ticks(pid) / os.sysconf("SC_CLK_TCK")


def measure_wait(
    connection: KafkaConnection, broker_pid: int, wait_ms: int, idle_seconds: float, samples: int
) -> WaitFigures:
    """One wait's figures (see the module doc), on a topic of its own."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import NewTopic

    topic = f"bench.fetch-wait.{wait_ms}.{uuid.uuid4().hex[:6]}"
    admin = kafka.admin(connection)  # kept: the future fails if its client is collected
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    consumer = kafka.reader(
        connection,
        {**BROKER, "group.id": "tillflow-bench-fetch-wait", "fetch.wait.max.ms": wait_ms},
    )
    producer = kafka.producer(connection, LOW_LATENCY_PRODUCER)
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        consumer.poll(1.0)  # connected and fetching before the window opens
        cpu0, t0 = _cpu_seconds(broker_pid), time.monotonic()
        while time.monotonic() - t0 < idle_seconds:
            consumer.poll(0.5)
        idle_share = (_cpu_seconds(broker_pid) - cpu0) / (time.monotonic() - t0)
        latencies: list[float] = []
        for i in range(samples):
            time.sleep(0.013 * (i % 11 + 1))  # uneven gaps: arrivals fall anywhere in a wait
            sent = time.perf_counter()
            producer.produce(topic, b"x")
            producer.flush(5)
            while True:
                msg = consumer.poll(5.0)
                if msg is None:
                    raise TimeoutError(f"{topic}: a record was not read back within 5 s")
                if msg.error() is None:
                    latencies.append(1000 * (time.perf_counter() - sent))
                    break
    finally:
        consumer.close()
    latencies.sort()
    return WaitFigures(
        wait_ms,
        idle_share,
        percentile(latencies, 0.50),
        percentile(latencies, 0.95),
        percentile(latencies, 0.99),
    )


def latency_grows_with_wait(figures: list[WaitFigures]) -> bool:
    """Whether the median latency at the longest wait exceeds the shortest wait's by more than a
    tenth of the longest wait: what a broker that answers a fetch only when its wait ends shows,
    and one with a wake-up on a new record does not."""
    by_wait = sorted(figures, key=lambda f: f.wait_ms)
    shortest, longest = by_wait[0], by_wait[-1]
    return longest.p50_ms > shortest.p50_ms + (longest.wait_ms - shortest.wait_ms) / 10


def run(
    waits: tuple[int, ...] = DEFAULT_WAITS, idle_seconds: float = 10.0, samples: int = 100
) -> int:
    waits = tuple(sorted(waits))  # the ratios compare the shortest wait with the longest
    figures = []
    try:
        with own_broker("tillflow-bench-fetch-wait") as (connection, broker_pid):
            print(
                f"  one idle consumer for {idle_seconds:.0f} s, then {samples} single records"
                " per wait",
                flush=True,
            )
            for wait in waits:
                figures.append(measure_wait(connection, broker_pid, wait, idle_seconds, samples))
                print(figures[-1].line(), flush=True)
    except BrokerDidNotStart as exc:
        print(f"  {exc}")
        return 1
    shortest, longest = figures[0], figures[-1]
    grows = latency_grows_with_wait(figures)
    print(
        f"  idle cost ratio {shortest.wait_ms} ms / {longest.wait_ms} ms:"
        f" {shortest.idle_core_share / max(longest.idle_core_share, 1e-6):.1f}x;"
        f" latency p50 ratio {longest.p50_ms / max(shortest.p50_ms, 1e-6):.1f}x"
    )
    print(
        "  verdict: "
        + (
            "the broker answers a waiting fetch only when its wait ends (no wake-up on a new"
            " record): a longer wait buys idle CPU with latency"
            if grows
            else "latency does not grow with the wait: a long fetch wait is free here"
        )
    )
    return 0
