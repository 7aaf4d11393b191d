"""Every Kafka client profile of the platform, in one place (docs/environment.md has the measurements).

A profile is what a client gets on top of the connection (``client_config``: bootstrap servers,
security protocol, SASL, SSL, client.id; ``tillflow.config.KafkaConnection``); every producer,
consumer and admin client of the platform, the Spark source and the benches build their
configuration from one of these (``tillflow.adapters.kafka`` has the constructors).

What shapes the values: the broker is Tansu, which

- holds a consumer-group join for about half of ``session.timeout.ms`` (so group consumers keep
  it short; readers that need no group never join: ``assign`` only, a ``group.id`` is still
  required by librdkafka);
- sleeps up to ``fetch.wait.max.ms`` after every fetch (so the wait is short where latency
  counts; 0 is no option: it stalls the client);
- lists a partition's stored record batches on every fetch and stops listing when the fetch's
  wait has run out, so a fetch at the tail of a partition deeper than its wait can list comes
  back empty, every time (measured by ``tillflow bench fetch-depth``: about 1,000 batches per
  millisecond of wait on an idle broker). The Spark readers of the high-volume topics therefore
  raise their wait when their fetches stall, the plain reader waits ``READER_WAIT_MS``,
  producers batch for ``linger.ms`` to keep partitions shallow, and the broker keeper restarts
  the broker before a partition outgrows the plain reader's wait (``runtime.broker_keeper``);
- serves one record batch per partition per fetch, so a deep prefetch queue
  (``queued.min.messages=1000000``, ``queued.max.messages.kbytes=1048576``) is what makes bulk
  reads fast: about 1.4M msgs/s against 220k/s with librdkafka's defaults;
- accepts transactions but does not honour them, so producers are not idempotent nor
  transactional: the sinks are idempotent instead.

This module is data only (no client library import): a unit test pins each profile's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from tillflow.config import KafkaConnection, is_kafka_connection_key

Profile = Mapping[str, Any]

#: The broker tuning every group consumer shares: a short session (a join is held for about half
#: of it; heartbeats well inside it), a short fetch wait, and offsets committed by the code, only
#: once what was consumed is done (``kafka.next_offsets``).
BROKER: Final[Profile] = {
    "enable.auto.commit": False,
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "fetch.wait.max.ms": 10,
}

#: A consumer in a group (smoke checks, Airflow's ``kafka_default`` connection, the suggestion
#: services): a new group starts at the beginning of its topics.
GROUP_CONSUMER: Final[Profile] = {"auto.offset.reset": "earliest", **BROKER}

#: A consumer on the request path (the suggestion services; they assign at their group's
#: committed offsets): a 2 ms fetch wait, measured 1.6 ms p50 / 4.1 ms p99 broker to consumer
#: against 6.8 ms p99 with 10 ms, and quick retries after a fetch error.
LOW_LATENCY_CONSUMER: Final[Profile] = {
    **GROUP_CONSUMER,
    "fetch.wait.max.ms": 2,
    "fetch.error.backoff.ms": 50,
}

#: The suggestion service's cache feed (CDC changes of items, customers and payment methods into
#: Redis): idle nearly always, and a change may reach the cache some tens of milliseconds later
#: without harm, so it waits 100 ms a fetch. The broker answers a fetch only when its wait ends,
#: and an idle consumer at 2 ms cost it 13.4 % of a core against 1.6 % at 100 ms (`tillflow
#: bench fetch-wait`); the order consumer keeps its 2 ms.
CACHE_FEED_CONSUMER: Final[Profile] = {
    **GROUP_CONSUMER,
    "fetch.wait.max.ms": 100,
    "fetch.error.backoff.ms": 50,
}

#: A consumer parked while idle (the suggestion service's consumers after some seconds without
#: a record; ``jobs.suggestions.parking``): a 500 ms wait costs this broker 0.4 % of a core
#: against 13.4 % at 2 ms, and the first record after a quiet spell waits at most that long.
PARKED_CONSUMER: Final[Profile] = {
    **GROUP_CONSUMER,
    "fetch.wait.max.ms": 500,
    "fetch.error.backoff.ms": 50,
}

#: The fetch wait of the plain-Python range reader (it has no stall detection): twice the wait of
#: the broker keeper's depth probe (``broker_keeper.DEPTH_PROBE_WAIT_MS``), so the broker is
#: restarted before a partition is too deep for it (``tillflow bench fetch-depth``: 50 ms lists
#: 50,000 batches, not 100,000; 100 ms lists 100,000, not 200,000).
READER_WAIT_MS: Final = 100

#: The first fetch wait of the Spark readers (bulk and tail). Every fetch takes at least its wait
#: on this broker, so it is a floor under each small read and each micro-batch's latency; a
#: reader whose fetches stall (a partition deeper than 10 ms lists, about 10,000 batches)
#: doubles it for the rest of the broker's incarnation (``spark.kafka_source``).
ESCALATING_READER_WAIT_MS: Final = 10

#: A reader of offset ranges it assigns itself (the plain-Python ingestion engine): no group (the
#: commit log in the warehouse is the record, so nothing is committed or stored in Kafka), no
#: partition-EOF events, the readers' fetch wait and the deep prefetch queue.
RANGE_READER: Final[Profile] = {
    "group.id": "tillflow-plain-ingest",  # never joined: assign only
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "fetch.wait.max.ms": READER_WAIT_MS,
    "queued.min.messages": 1_000_000,
    "queued.max.messages.kbytes": 1_048_576,
}

#: The Spark source's bulk range reader (one per Python worker, reused across tasks): the range
#: reader with the escalating wait, larger fetches (50 MB a response, 10 MB a partition) and Nagle off, so the
#: round trips of a partitioned read stay full and prompt.
BULK_READER: Final[Profile] = {
    **RANGE_READER,
    "group.id": "tillflow-spark-source",  # never joined: assign only
    "fetch.wait.max.ms": ESCALATING_READER_WAIT_MS,
    "fetch.max.bytes": 52_428_800,
    "max.partition.fetch.bytes": 10_485_760,
    "socket.nagle.disable": True,
}

#: The Spark tail reader (the continuous job's driver-side reader, kept at the tail between
#: triggers): a prefetch deep enough for a trigger's worth of events at any rate it serves (it
#: lands at most 200,000 a micro-batch), shallower than a bulk read's.
TAIL_READER: Final[Profile] = {
    **BULK_READER,
    "group.id": "tillflow-spark-tail",  # never joined: assign only
    "queued.min.messages": 400_000,
    "queued.max.messages.kbytes": 262_144,
}

#: The Spark source's tail watcher, whose fetch responses give the high watermarks (ListOffsets
#: is answered wrongly by this broker): it must never stop fetching between two calls, so its
#: queue is unbounded in practice (purged on every call by re-assigning). It needs the
#: watermarks only, which every fetch response carries, an empty one too: a short wait (also
#: for ``kafka.end_offsets``, which waits for one response per partition).
TAIL_WATCHER: Final[Profile] = {
    **BULK_READER,
    "fetch.wait.max.ms": 10,
    "group.id": "tillflow-spark-watcher",  # never joined: assign only
    "queued.min.messages": 10_000_000,
    "queued.max.messages.kbytes": 2_097_151,
}

#: A consumer that only reads metadata and fetch-response watermarks (the demo's topic counts):
#: no group is joined, so a short fetch wait is all it needs.
WATERMARK_READER: Final[Profile] = {
    "group.id": "tillflow-demo-counts",  # never joined: no subscribe, no assign
    "fetch.wait.max.ms": 10,
}

#: Every producer: acknowledged by all replicas; not idempotent (the broker accepts but does not
#: honour transactions: the sinks are idempotent instead); lz4 batches of up to 10,000 records
#: after a 50 ms linger, and a queue of a million records for bursts. The linger bounds how many
#: batches a live stream of this producer stores per partition (at most 20 a second), and so
#: how deep partitions grow between broker restarts (the fetch listing above). The CDC engine
#: sends at once (1 ms): its topics, the order events among them, grow by about a batch a
#: change.
PRODUCER: Final[Profile] = {
    "acks": "all",
    "enable.idempotence": False,
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1_000_000,
}

#: A producer on the request path (accepted suggestions, the sensor): sends at once, no linger.
LOW_LATENCY_PRODUCER: Final[Profile] = {**PRODUCER, "linger.ms": 0}

#: An admin client (list, create and delete topics): librdkafka's defaults.
ADMIN: Final[Profile] = {}


def client_config(
    connection: KafkaConnection, profile: Profile, **overrides: Any
) -> dict[str, Any]:
    """A client's configuration: the connection, the profile, then ``overrides``. Neither a
    profile nor an override may touch a connection key: every client reaches the cluster the
    same way."""
    if not isinstance(connection, KafkaConnection):
        raise TypeError(f"a KafkaConnection is required, got {type(connection).__name__}")
    clash = sorted(k for k in (*profile, *overrides) if is_kafka_connection_key(k))
    if clash:
        raise ValueError(f"connection keys belong to the KafkaConnection, not a client: {clash}")
    return {**connection.client_config(), **profile, **overrides}
