"""A plain-Python consumer feeding the same sink as Spark: the yardstick the Spark job is measured
against, and a fallback engine for machines without Java.

It reads with ``assign`` from the job's commit log (no consumer group), in chunks bounded by rows
and by time, and lands each chunk in one transaction through ``pipeline.process``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tillflow.adapters import kafka
from tillflow.adapters.kafka_profiles import RANGE_READER
from tillflow.config import KafkaConnection
from tillflow.domain.events.coordinates import broker_offset, virtual
from tillflow.domain.events.records import TimeWindow, kafka_arrow_schema
from tillflow.jobs.ingest import epochs, pipeline
from tillflow.jobs.ingest.sink import DEFAULT_MODE, Sink, committed_offsets

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class PlainResult:
    records: int = 0
    landed: int = 0
    dead_letters: int = 0
    chunks: int = 0
    seconds: float = 0.0


def _table(msgs: list[Any], base: int = 0) -> pa.Table:
    """The messages as a Kafka record table; ``base``: their epoch's first virtual offset."""
    import numpy as np
    import pyarrow as pa

    n = len(msgs)
    return pa.table(
        [
            pa.array([m.key() for m in msgs], pa.binary()),
            pa.array([m.value() for m in msgs], pa.binary()),
            pa.array([m.topic() for m in msgs], pa.string()),
            pa.array([m.partition() for m in msgs], pa.int32()),
            pa.array([base + m.offset() for m in msgs], pa.int64()),
            pa.array(
                np.asarray([m.timestamp()[1] for m in msgs], np.int64) * 1000,
                pa.timestamp("us", tz="UTC"),
            ),
            pa.array(np.zeros(n, np.int32)),
        ],
        schema=kafka_arrow_schema(),
    )


def run(
    connection: KafkaConnection,
    topics: Sequence[str],
    dsn: str,
    job: str,
    *,
    kinds: Mapping[str, str] | None = None,
    sink_mode: str = DEFAULT_MODE,
    chunk_rows: int = 200_000,
    window_seconds: float = 0.1,
    stop_after: int | None = None,
    idle_seconds: float | None = 5.0,
    deadline_seconds: float = 600.0,
) -> PlainResult:
    """Consume and land until ``stop_after`` records, ``idle_seconds`` without records, or the
    deadline."""
    from confluent_kafka import TopicPartition

    consumer = kafka.reader(connection, RANGE_READER)
    try:
        meta = consumer.list_topics(timeout=10)
        cluster = kafka.cluster_id(consumer)
        epoch = epochs.epoch_for(dsn, cluster)
        base = virtual(epoch, 0)
        committed = epochs.settle(dsn, job, epoch, committed_offsets(dsn, job), topics)
    except BaseException:
        consumer.close()
        raise
    assignment = [
        TopicPartition(t, p, broker_offset(committed.get((t, p), base)))
        for t in topics
        if t in meta.topics  # a topic not created yet (a broker that just started) has none
        for p in sorted(meta.topics[t].partitions)
    ]
    consumer.assign(assignment)
    sink = Sink(dsn, job, sink_mode)
    result = PlainResult()
    window = TimeWindow.current()
    started = time.perf_counter()
    last_data = time.monotonic()
    try:
        while True:
            buf: list[Any] = []
            t_chunk = time.monotonic()
            while len(buf) < chunk_rows and time.monotonic() - t_chunk < window_seconds:
                msgs = consumer.consume(chunk_rows - len(buf), window_seconds)
                buf.extend(m for m in msgs if m.error() is None)
            if buf:
                last_data = time.monotonic()
                if kafka.cluster_id(consumer) != cluster:  # read from another incarnation
                    raise RuntimeError("the broker restarted during the run; run it again")
                # What this incarnation holds, for counting it should it go away unread.
                epochs.note_watermarks(dsn, epoch, _watermarks(consumer, assignment))
                s = pipeline.process(sink, _table(buf, base), window, kinds)
                result.records += s.records
                result.landed += s.landed
                result.dead_letters += s.dead_letters
                result.chunks += 1
            if stop_after is not None and result.records >= stop_after:
                break
            if idle_seconds is not None and time.monotonic() - last_data > idle_seconds:
                break
            if time.perf_counter() - started > deadline_seconds:
                break
    finally:
        consumer.close()
        sink.close()
    result.seconds = time.perf_counter() - started
    return result


def _watermarks(consumer: Any, assignment: Sequence[Any]) -> dict[tuple[str, int], int]:
    """The end offsets the last fetch responses reported (no request)."""
    from confluent_kafka import TopicPartition

    ends = {}
    for tp in assignment:
        _, hi = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), cached=True)
        if hi is not None and hi >= 0:
            ends[(tp.topic, tp.partition)] = int(hi)
    return ends
