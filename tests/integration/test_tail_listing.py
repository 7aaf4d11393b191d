"""The tail reader's ListOffsets checks against a real broker (one of the test's own): this
broker answers a connection's requests one after another, so a request sent on a consumer that
is fetching waits behind its fetches, each up to the fetch wait. The reader therefore lists
through a client of its own that never fetches (``KafkaTailReader._metadata``). Found by the
1000-store soak: once ingestion had caught up with its wait raised to 3.2 s, every micro-batch
spent about 35 s in these checks."""

from __future__ import annotations

import time
import uuid

import pytest

from spark.kafka_source import KafkaTailReader
from tillflow.adapters import kafka
from tillflow.adapters import kafka_profiles as profiles
from tillflow_bench.fetch_depth import fill
from tillflow_bench.own_broker import own_broker

pytestmark = pytest.mark.integration

PARTITIONS = 2
#: A raised wait, short enough to keep the test short (the reader's cap is 3.2 s).
FETCH_WAIT_MS = 1_000


def _list_seconds(consumer: object, tps: list[tuple[str, int]]) -> float:
    from confluent_kafka import TopicPartition

    t0 = time.monotonic()
    for t, p in tps:
        consumer.get_watermark_offsets(TopicPartition(t, p), cached=False, timeout=15)  # type: ignore[attr-defined]
    return time.monotonic() - t0


def test_listing_does_not_wait_behind_a_fetching_consumer() -> None:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import NewTopic

    with own_broker("tillflow-test-tail-listing") as (connection, _):
        topic = f"test.tail.{uuid.uuid4().hex[:6]}"
        admin = kafka.admin(connection)
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(10)
        fill(connection, topic, 10)
        tps = [(topic, p) for p in range(PARTITIONS)]
        # Given the tail consumer at a raised fetch wait, fetching at the end of idle
        # partitions (nothing new arrives: every fetch lasts its whole wait)
        tail = kafka.reader(
            connection, profiles.TAIL_READER, **{"fetch.wait.max.ms": FETCH_WAIT_MS}
        )
        reader = KafkaTailReader.__new__(KafkaTailReader)
        reader.connection, reader._lister = connection, None
        try:
            ends = kafka.end_offsets(connection, [topic])
            tail.assign([TopicPartition(t, p, ends[(t, p)]) for t, p in tps])
            tail.consume(100, 2.0)  # its fetches are under way
            # When the partitions are listed on that consumer, and through the reader's lister
            on_tail = _list_seconds(tail, tps)
            on_lister = _list_seconds(reader._metadata(), tps)
            print(f"ListOffsets of {PARTITIONS} partitions: {on_tail:.2f} s on the fetching"
                  f" consumer, {on_lister:.2f} s on the lister")  # fmt: skip
            # Then the lister's answers do not wait for the fetches
            assert on_lister * 4 < on_tail, (on_lister, on_tail)
        finally:
            tail.close()
            if reader._lister is not None:
                reader._lister.close()
