"""A Kafka source for Spark Structured Streaming, on pyspark's Python Data Source API.

pyspark ships no Kafka connector jar and Maven Central is out of reach here, so this source reads
Kafka with confluent-kafka and hands Spark Arrow record batches with the native connector's columns
(``key, value, topic, partition, offset, timestamp, timestampType``): a job written against it runs
unchanged on ``format("kafka")`` where the jar exists.

- Offsets are ``{"topic": {"partition": next_offset}}``; one input partition per Kafka partition and
  micro-batch (a small micro-batch: one for all its partitions, read together), so every task
  reads each partition's offset range contiguously and in order (the sink's commit log relies on
  it).
- Latest offsets come from fetch responses (the high watermark), not ListOffsets, which this
  broker answers wrongly (docs/environment.md; measured: it returns the last batch's base offset + 1). A
  watcher consumer stays assigned at the tail; librdkafka's long-polling fetches (every
  ``fetch.wait.max.ms``) keep its cached watermarks fresh, and each call re-assigns it at the new
  tail, which drops what it prefetched without touching Python.
- No consumer group is ever joined (``assign`` only), so no join delay.
- The database wins: with a ``dsn`` and ``job``, the start of each range is the job's commit log
  (``ops.ingest_offsets``) where it has one, so a Spark checkpoint that is behind or ahead of what
  landed cannot lose or repeat records.
- Broker incarnations: a broker with memory storage restarts empty and numbers offsets from 0
  again. Every offset this source hands out or takes is a virtual offset (the incarnation's epoch
  in the high bits, ``tillflow.domain.events.coordinates``), the epoch being the cluster id's
  (``ops.broker_epochs``). A reader that meets a new cluster id starts every partition of the new
  incarnation at its offset 0; what the old one held past the commit log is counted in
  ``ops.ingest_losses`` and never read. A read checks the cluster id again after reading and
  before handing records over, so records of one incarnation are never landed as another's.
- It only reads. The fused and tail engines land each read's records where they were read; the
  function that lands them (a ``Landing``) comes from a subclass (``spark.ingest``'s, which hands
  over ``spark.landing.Lander``).
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pyspark.errors import PySparkNotImplementedError
from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamReader,
    InputPartition,
    SimpleDataSourceStreamReader,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark.kafka_options import connection_from_options
from tillflow.adapters import kafka
from tillflow.adapters import kafka_profiles as profiles
from tillflow.config import KafkaConnection
from tillflow.domain.events.coordinates import EPOCH_SHIFT, broker_offset, epoch_of, virtual

if TYPE_CHECKING:
    import pyarrow as pa
    from confluent_kafka import Consumer

NAME = "tillflow_kafka"

KAFKA_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
)

#: The tail reader lands at most this many records per micro-batch (its prefetch is sized for
#: it: ``kafka_profiles.TAIL_READER``).
TAIL_MAX_ROWS = 200_000
#: How often the tail reader checks its partitions against the broker's end offsets.
LIST_EVERY = 5.0
#: The longest fetch wait the tail reader escalates to after stalls (see ``read``).
MAX_FETCH_WAIT_MS = 3_200


def raised_wait(wait_ms: int) -> int:
    """The fetch wait after a stall, for both readers: twice the last, up to the cap."""
    return min(2 * wait_ms, MAX_FETCH_WAIT_MS)


log = logging.getLogger("tillflow.spark.kafka_source")

Offsets = dict[str, dict[str, int]]
#: What the fused and tail engines do with a read's records: land them and yield one summary row
#: per landed chunk (``spark.landing.Lander``), which the read returns instead of the records.
Landing = Callable[[Iterator["pa.RecordBatch"]], Iterator["pa.RecordBatch"]]


def _flat(offsets: Offsets) -> dict[tuple[str, int], int]:
    return {(t, int(p)): int(o) for t, parts in offsets.items() for p, o in parts.items()}


def _nest(flat: dict[tuple[str, int], int]) -> Offsets:
    out: Offsets = {}
    for (t, p), o in sorted(flat.items()):
        out.setdefault(t, {})[str(p)] = int(o)
    return out


class KafkaRange(InputPartition):
    """Records ``[start, end)`` (virtual offsets, one epoch) of one topic-partition; ``cluster``:
    the cluster id of the incarnation they are in, checked by the read (None: not checked)."""

    def __init__(
        self, topic: str, partition: int, start: int, end: int, cluster: str | None = None
    ) -> None:
        super().__init__((topic, partition, start, end, cluster))
        self.topic = topic
        self.partition = partition
        self.start = start
        self.end = end
        self.cluster = cluster


class BrokerChanged(RuntimeError):
    """The broker is another incarnation than the one a read started in: nothing read since is
    handed over (the next micro-batch, or the job's restart, reads the new incarnation)."""


def check_cluster(consumer: Consumer, expected: str | None) -> None:
    if expected is None:
        return
    now = kafka.cluster_id(consumer)
    if now != expected:
        raise BrokerChanged(f"broker cluster id is {now!r}, the read began in {expected!r}")


class KafkaRanges(InputPartition):
    """Several ranges read together by one task (one consumer assigned to all of them): on this
    broker a fetch round trip costs about the same for one partition as for several, and each
    task pays its fixed costs (a transaction, a Kafka assign) once."""

    def __init__(self, ranges: list[KafkaRange]) -> None:
        super().__init__(tuple(r.value for r in ranges))
        self.ranges = ranges


class KafkaDataSource(DataSource):
    """``spark.readStream.format("tillflow_kafka")`` with options:

    - ``kafka.bootstrap.servers`` (or ``bootstrap``): the broker; every other ``kafka.<key>``
      (security protocol, SASL, SSL, client.id, in librdkafka's names:
      ``spark.kafka_options.source_options``) reaches every client the source builds, the
      executors' readers included (the options travel with the reader);
    - ``subscribe``: comma-separated topics;
    - ``startingOffsets``: ``earliest`` (default) or ``latest``, for partitions without a commit;
    - ``maxOffsetsPerTrigger``: cap on records per micro-batch (split over partitions by lag);
    - ``job`` and ``dsn``: the sink's commit log (``ops.ingest_offsets``), which wins over the
      checkpoint;
    - ``coalesceBelow``: a micro-batch with fewer records than this (default 50,000) is read by
      one task instead of one per partition;
    - ``readTimeoutSeconds``: how long a task waits for records it was promised (default 60);
    - ``land``: a JSON ``spark.job_config.JobConfig``. Set, each read task parses and lands its
      own range through ``landing(land)`` (the "fused" engine: the records never cross into the
      JVM) and yields one summary row per landed chunk instead of the records;
    - ``reader``: ``tail`` (with ``land``, ``job`` and ``dsn``) for the low-latency reader
      (``KafkaTailReader``) instead of the partitioned one.
    """

    @classmethod
    def name(cls) -> str:
        return NAME

    def landing(self, land: str) -> Landing:
        """The function that lands what a read read, for the option ``land``. This source only
        reads: a subclass that lands provides it (``spark.ingest.LandingKafkaSource``)."""
        raise ValueError("option land needs a source that lands (spark.ingest.LandingKafkaSource)")

    def landed_schema(self) -> StructType:
        """The schema of the summary rows ``landing`` yields."""
        raise ValueError("option land needs a source that lands (spark.ingest.LandingKafkaSource)")

    def schema(self) -> StructType:
        if self.options.get("land"):
            return self.landed_schema()
        return KAFKA_SCHEMA

    def _options(self) -> dict[str, str]:
        # Spark's options are case-insensitive: look them up in lower case.
        return {str(k).lower(): str(v) for k, v in self.options.items()}

    def _landing(self) -> Landing | None:
        land = self._options().get("land")
        return self.landing(land) if land else None

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        if self._options().get("reader") == "tail":
            # pyspark falls back to simpleStreamReader() when this is not implemented.
            raise PySparkNotImplementedError(
                errorClass="NOT_IMPLEMENTED", messageParameters={"feature": "streamReader"}
            )
        return KafkaStreamReader(self._options(), self._landing())

    def simpleStreamReader(self, schema: StructType) -> SimpleDataSourceStreamReader:
        return KafkaTailReader(self._options(), self._landing())


class _Reader:
    """What both readers share: the source's options (see ``KafkaDataSource``), the topics'
    partitions (listed again every 10 s, so a topic created later is picked up), the sink's
    commit log and the landing (``land``), if any."""

    def __init__(self, options: dict[str, str], landing: Landing | None = None) -> None:
        if not (options.get("kafka.bootstrap.servers") or options.get("bootstrap")):
            raise ValueError("option kafka.bootstrap.servers is required")
        self.connection = connection_from_options(options)
        self.topics = [t.strip() for t in options.get("subscribe", "").split(",") if t.strip()]
        if not self.topics:
            raise ValueError("option subscribe (comma-separated topics) is required")
        self.starting = options.get("startingoffsets", "earliest")
        max_rows = options.get("maxoffsetspertrigger")
        self.max_rows = int(max_rows) if max_rows else None
        self.job = options.get("job")
        self.dsn = options.get("dsn")
        self.read_timeout = float(options.get("readtimeoutseconds", "60"))
        self.landing = landing
        self._partitions: list[tuple[str, int]] = []
        self._partitions_at = 0.0
        #: The broker incarnation read: its cluster id and epoch (0 without a commit log).
        self.cluster: str | None = None
        self.epoch = 0
        self._noted: dict[tuple[str, int], int] = {}
        self._settled: int | None = None  # the epoch whose older incarnations were counted

    def _consumer(self) -> Consumer:
        raise NotImplementedError

    def _metadata(self) -> Consumer:
        """The client metadata and ListOffsets requests go to (the reader's consumer unless a
        reader keeps one apart)."""
        return self._consumer()

    def _incarnation(self) -> bool:
        """Read the broker's cluster id; True when it is a new incarnation (caches dropped)."""
        cluster = kafka.cluster_id(self._metadata())
        if cluster == self.cluster:
            return False
        if self.dsn and self.job:
            from tillflow.jobs.ingest.epochs import epoch_for

            self.epoch = epoch_for(self.dsn, cluster)
        self.cluster = cluster
        self._partitions, self._noted = [], {}
        self._new_incarnation()
        return True

    def _new_incarnation(self) -> None:
        """Drop what a reader caches of the broker's offsets."""

    def _floor(self) -> int:
        """The first virtual offset of the current incarnation."""
        return virtual(self.epoch, 0)

    def _note(self, ends: dict[tuple[str, int], int]) -> None:
        """Record the incarnation's end offsets (broker offsets) as they grow: what a lost
        incarnation took with it is counted from them."""
        grown = {tp: o for tp, o in ends.items() if o > self._noted.get(tp, -1)}
        if grown and self.dsn and self.job:
            from tillflow.jobs.ingest.epochs import note_watermarks

            note_watermarks(self.dsn, self.epoch, grown)
        self._noted.update(grown)

    def _topic_partitions(self) -> list[tuple[str, int]]:
        if not self._partitions or time.monotonic() - self._partitions_at > 10:
            self._partitions = topic_partitions(self._metadata(), self.topics)
            self._partitions_at = time.monotonic()
        return self._partitions

    def _committed(self) -> dict[tuple[str, int], int]:
        """The commit log, partitions of older incarnations moved to this one's start."""
        if not (self.dsn and self.job):
            return {}
        from tillflow.jobs.ingest.epochs import settle
        from tillflow.jobs.ingest.sink import committed_offsets

        committed = committed_offsets(self.dsn, self.job)
        if self._settled != self.epoch:  # once per incarnation: count what older ones took
            committed = settle(self.dsn, self.job, self.epoch, committed, self.topics)
            self._settled = self.epoch
        floor = self._floor()
        return {tp: max(v, floor) for tp, v in committed.items()}


class KafkaStreamReader(_Reader, DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict[str, str], landing: Landing | None = None) -> None:
        super().__init__(options, landing)
        self.coalesce_below = int(options.get("coalescebelow", "50000"))
        self._watcher: Consumer | None = None
        self._tail: dict[tuple[str, int], int] = {}
        self._target: dict[tuple[str, int], int] | None = None

    # --- broker state -----------------------------------------------------------------------
    def _consumer(self) -> Consumer:
        if self._watcher is None:
            self._watcher = kafka.reader(self.connection, profiles.TAIL_WATCHER)
        return self._watcher

    def _new_incarnation(self) -> None:
        # A new watcher: the old one's cached watermarks are the dead broker's.
        self._tail = {}
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None

    def high_watermarks(self) -> dict[tuple[str, int], int]:
        """The end offset (virtual) of every partition, from the watcher's fetch responses."""
        from confluent_kafka import TopicPartition

        self._incarnation()
        consumer = self._consumer()
        tps = self._topic_partitions()
        fresh = [tp for tp in tps if tp not in self._tail]
        if fresh:
            # First sight: start near the end (ListOffsets is close: the last batch's base) and
            # wait for the first fetch response of each partition.
            for t, p in fresh:
                _, hi = consumer.get_watermark_offsets(
                    TopicPartition(t, p), cached=False, timeout=10
                )
                self._tail[(t, p)] = max(0, hi - 1)
            consumer.assign([TopicPartition(t, p, self._tail[(t, p)]) for t, p in tps])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                his = [
                    consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)[1]
                    for t, p in fresh
                ]
                if all(h >= 0 for h in his):
                    break
                time.sleep(0.002)
        result: dict[tuple[str, int], int] = {}
        for t, p in tps:
            _, hi = consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)
            result[(t, p)] = max(hi, self._tail.get((t, p), 0))
        self._tail.update(result)
        # Re-assign at the tail: drops what was prefetched (in C) and keeps long-polling there.
        consumer.assign([TopicPartition(t, p, result[(t, p)]) for t, p in tps])
        self._note(result)
        return {tp: virtual(self.epoch, o) for tp, o in result.items()}

    # --- the streaming reader API -----------------------------------------------------------
    def initialOffset(self) -> dict:
        tails = self.high_watermarks() if self.starting == "latest" else {}
        if not tails:
            self._incarnation()
        committed = self._committed()
        floor = self._floor()
        start = {tp: committed.get(tp, tails.get(tp, floor)) for tp in self._topic_partitions()}
        return _nest(start)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_rows) if self.max_rows else ReadAllAvailable()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        tails = self.high_watermarks()
        # A start in an older incarnation: this one's records begin at its first offset.
        floor = self._floor()
        begin = {tp: max(o, floor) for tp, o in _flat(start).items()}
        if self._target is not None:
            tails = {tp: min(o, self._target.get(tp, begin.get(tp, 0))) for tp, o in tails.items()}
        end = {tp: max(o, begin.get(tp, 0)) for tp, o in tails.items()}
        for tp, o in begin.items():
            end.setdefault(tp, o)
        if isinstance(limit, ReadMaxRows):
            end = _cap(begin, end, limit.max_rows)
        elif self._target is not None and self.max_rows:
            # availableNow hands ReadAllAvailable; catching up in bounded batches still reaches
            # the target, and keeps each task's memory bounded.
            end = _cap(begin, end, self.max_rows)
        return _nest(end)

    def reportLatestOffset(self) -> dict | None:
        return _nest({tp: virtual(self.epoch, o) for tp, o in self._tail.items()}) or None

    def prepareForTriggerAvailableNow(self) -> None:
        self._target = dict(self.high_watermarks())

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        # Spark may replay a planned batch before any other call of a fresh reader: which
        # incarnation is the broker? (A range of an older one is never read.)
        self._incarnation()
        begin = _flat(start)
        committed = self._committed()  # the database wins over the checkpoint
        floor = self._floor()
        ranges: list[KafkaRange] = []
        for (topic, part), stop in sorted(_flat(end).items()):
            first = max(committed.get((topic, part), begin.get((topic, part), 0)), floor)
            if first < stop:  # never a range of an older incarnation: its broker is gone
                ranges.append(KafkaRange(topic, part, first, stop, self.cluster))
        if len(ranges) > 1 and sum(r.end - r.start for r in ranges) < self.coalesce_below:
            return [KafkaRanges(ranges)]
        return list(ranges)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if isinstance(partition, KafkaRanges):
            records = read_ranges(self.connection, partition.ranges, self.read_timeout)
        else:
            assert isinstance(partition, KafkaRange)
            records = read_ranges(self.connection, [partition], self.read_timeout)
        return records if self.landing is None else self.landing(records)

    def commit(self, end: dict) -> None:
        """Nothing to do: the sink's commit log (same transaction as the rows) is the record."""

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None


def topic_partitions(consumer: Consumer, topics: Sequence[str]) -> list[tuple[str, int]]:
    """The partitions of the topics that exist (a topic not created yet has none until it is)."""
    meta = consumer.list_topics(timeout=10)
    found: list[tuple[str, int]] = []
    for topic in topics:
        tm = meta.topics.get(topic)
        if tm is not None and tm.error is None:
            found.extend((topic, p) for p in sorted(tm.partitions))
    return found


class KafkaTailReader(_Reader, SimpleDataSourceStreamReader):
    """The low-latency reader of the continuous job (option ``reader=tail``).

    Spark calls ``read(start)`` on the driver when it plans each micro-batch. One consumer stays
    assigned at the tail of every partition between calls, so librdkafka has already fetched
    what arrived since the last trigger: ``read`` drains that queue without waiting, lands the
    records through the sink (the same ``Lander``: parse, validate, COPY and the commit log in
    one transaction) and returns one summary row per landed chunk and the new end offsets. An
    event is therefore visible at the first trigger after it reached the broker, with no task
    scheduling or Kafka fetch inside the batch; the partitioned reader paid both (docs/environment.md:
    about 350 ms per micro-batch plus 25-60 ms per partition fetch on this broker).

    Exactly once: every ``read`` starts each partition at the commit log's offset (the database
    wins), so records landed by a read whose offsets never reached Spark's offset log (a kill in
    between) are not landed again, and none are skipped. ``readBetweenOffsets`` (Spark replaying
    a planned batch after a restart) reads the exact range on an executor and lands what the
    commit log does not have yet. Not for catch-up: one process lands everything, so
    ``available-now`` runs use the partitioned reader.
    """

    def __init__(self, options: dict[str, str], landing: Landing | None = None) -> None:
        super().__init__(options, landing)
        if not (self.landing and self.job and self.dsn):
            raise ValueError("the tail reader needs the options land, job and dsn")
        self.rows_per_read = self.max_rows or TAIL_MAX_ROWS
        self._tail_consumer: Consumer | None = None
        self._position: dict[tuple[str, int], int] = {}
        #: Partitions the broker was ahead on at the last ListOffsets check, and where this
        #: reader stood then (broker offsets).
        self._behind: dict[tuple[str, int], int] = {}
        self._listed_at = 0.0  # the last ListOffsets check
        self.fetch_wait_ms = int(profiles.TAIL_READER["fetch.wait.max.ms"])
        self._lister: Consumer | None = None

    def _consumer(self) -> Consumer:
        if self._tail_consumer is None:
            self._tail_consumer = kafka.reader(
                self.connection, profiles.TAIL_READER, **{"fetch.wait.max.ms": self.fetch_wait_ms}
            )
        return self._tail_consumer

    def _metadata(self) -> Consumer:
        # A client of its own that never fetches: this broker answers a connection's requests
        # one after another, so the tail consumer's metadata and ListOffsets requests waited
        # behind its fetches, each up to the fetch wait (seen in the 1000-store soak: at a raised
        # 3.2 s wait, 35 s of ListOffsets a micro-batch once ingestion had caught up).
        if self._lister is None:
            self._lister = kafka.reader(self.connection, profiles.WATERMARK_READER)
        return self._lister

    def _drop_consumer(self) -> None:
        """A new consumer at the next read, from the commit log's offsets."""
        self._position, self._behind = {}, {}
        if self._tail_consumer is not None:
            self._tail_consumer.close()
            self._tail_consumer = None

    def _new_incarnation(self) -> None:
        # A new consumer: the old one's prefetched records and watermarks are the dead broker's.
        # A new broker starts empty, so its partitions are shallow again: the profile's wait.
        self.fetch_wait_ms = int(profiles.TAIL_READER["fetch.wait.max.ms"])
        self._drop_consumer()

    def _caught_up(self, listed: dict[tuple[str, int], int], ahead: dict) -> bool:
        """After a check (``listed``, from ``_listed_ahead``) that found the broker ahead on no
        partition (nor the consumer's own watermarks: ``ahead``), a raised fetch wait goes back
        to the profile's: this broker sleeps out the wait after each fetch, so a wait raised for
        a deep backlog would otherwise hold every later batch's freshness at seconds. True when
        it went back (the next read takes a new consumer)."""
        base = int(profiles.TAIL_READER["fetch.wait.max.ms"])
        if listed or ahead or self.fetch_wait_ms <= base:
            return False
        self.fetch_wait_ms = base
        return True

    def _first_offset(self, tp: tuple[str, int]) -> int:
        """Where a partition without a commit or a Spark offset starts (virtual)."""
        if self.starting != "latest":
            return self._floor()
        from confluent_kafka import TopicPartition

        _, hi = self._metadata().get_watermark_offsets(TopicPartition(*tp), timeout=10)
        return virtual(self.epoch, max(0, hi))

    def _listed_ahead(
        self, consumer: Consumer, tps: list[tuple[str, int]], cached: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int] | None:
        """Every ``LIST_EVERY`` seconds, the broker's own end offsets (ListOffsets) where they
        are ahead of ``cached`` (None between checks). A consumer's watermarks come from its
        fetch responses; one whose fetches stall (seen in the soak drill after broker restarts:
        nothing read for minutes while the broker took millions of records) would leave
        ingestion idle with a lag of 0."""
        from confluent_kafka import TopicPartition

        if time.monotonic() - self._listed_at < LIST_EVERY:
            return None
        self._listed_at = time.monotonic()
        ahead = {}
        for t, p in tps:
            # ListOffsets answers the last batch's base offset: never past what exists.
            _, hi = consumer.get_watermark_offsets(TopicPartition(t, p), cached=False, timeout=5)
            if hi > cached.get((t, p), 0):
                ahead[(t, p)] = hi
        return ahead

    def _stalled(
        self, listed: dict[tuple[str, int], int], at: dict[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        """The partitions of ``listed`` (the broker ahead, from ``_listed_ahead``) that were
        also ahead at the previous check with the reader at the same offset (``at``): stalled.
        Any stall doubles the fetch wait of the next consumer, up to ``MAX_FETCH_WAIT_MS``."""
        stuck = {tp: hi for tp, hi in listed.items() if self._behind.get(tp) == at[tp]}
        self._behind = {tp: at[tp] for tp in listed}
        if stuck:
            self.fetch_wait_ms = raised_wait(self.fetch_wait_ms)
        return stuck

    def _land(self, batches: Iterator[pa.RecordBatch]) -> list[tuple[Any, ...]]:
        assert self.landing is not None  # checked in __init__
        rows: list[tuple[Any, ...]] = []
        for summary in self.landing(batches):
            rows.extend(tuple(r.values()) for r in summary.to_pylist())
        return rows

    def initialOffset(self) -> dict:
        self._incarnation()
        committed = self._committed()
        return _nest(
            {tp: committed.get(tp, self._first_offset(tp)) for tp in self._topic_partitions()}
        )

    def read(self, start: dict) -> tuple[Iterator[tuple[Any, ...]], dict]:
        from confluent_kafka import TopicPartition

        self._incarnation()
        spark_start = _flat(start)
        committed = self._committed()
        floor = self._floor()
        begin: dict[tuple[str, int], int] = {}
        for tp in self._topic_partitions():
            if tp in committed:  # the database wins
                begin[tp] = committed[tp]
            elif tp in spark_start:
                begin[tp] = max(spark_start[tp], floor)
            else:
                begin[tp] = self._first_offset(tp)
        consumer = self._consumer()
        if begin != self._position:
            consumer.assign([TopicPartition(t, p, broker_offset(o)) for (t, p), o in begin.items()])
            self._position = dict(begin)
        messages = drain(consumer, self.rows_per_read)
        batches, ends = arrow_batches(messages, begin)
        if batches:
            # What was drained came from this incarnation only if it is still the broker now.
            check_cluster(consumer, self.cluster)
        # The end offsets the last fetch responses reported (no request): what the broker holds.
        seen = {tp: broker_offset(o) for tp, o in ends.items()}
        for t, p in begin:
            _, hi = consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)
            if hi is not None and hi > seen.get((t, p), -1):
                seen[(t, p)] = hi
        # A partition where the broker holds more than the consumer read and knows of, at two
        # checks in a row with no progress between: its fetches stalled. The broker lists a
        # partition's batches within the fetch's wait and answers empty when the listing does
        # not end in time (kafka_profiles): a new consumer at the next read, from the commit
        # log, with twice the wait.
        at = {tp: broker_offset(o) for tp, o in {**begin, **ends}.items()}
        listed = self._listed_ahead(
            self._metadata(), list(begin), {tp: max(at[tp], seen.get(tp, 0)) for tp in begin}
        )
        if listed is not None:
            # The consumer's own fetch responses may say so already: a partition too deep for
            # the wait is answered empty, with its high watermark (a stall in the last batch,
            # which ListOffsets, answering that batch's base offset, cannot show).
            ahead = watermark_ahead(at, seen)
            stuck = self._stalled({**ahead, **listed}, at)
            if stuck:
                log.warning(
                    "tail consumer stalled behind the broker on %d partition(s), e.g. %s"
                    " (read up to, broker end): a new consumer, fetch wait %d ms",
                    len(stuck),
                    next((tp, at[tp], hi) for tp, hi in stuck.items()),
                    self.fetch_wait_ms,
                )
                seen.update(stuck)
                self._drop_consumer()
            elif self._caught_up(listed, ahead):
                log.info("tail consumer caught up: fetch wait back to %d ms", self.fetch_wait_ms)
                self._drop_consumer()
        self._note(seen)
        rows = self._land(iter(batches)) if batches else []
        self._position.update(ends)
        # Never report an offset behind Spark's own start for a partition (a commit log behind
        # the checkpoint cannot happen: rows land before Spark records the batch).
        end = {tp: max(o, spark_start.get(tp, o)) for tp, o in self._position.items()}
        for tp, o in spark_start.items():
            end.setdefault(tp, o)
        return iter(rows), _nest(end)

    def readBetweenOffsets(self, start: dict, end: dict) -> Iterator[tuple[Any, ...]]:
        self._incarnation()
        committed = self._committed()
        begin = _flat(start)
        floor = self._floor()
        ranges = []
        for (t, p), stop in sorted(_flat(end).items()):
            first = max(committed.get((t, p), 0), begin.get((t, p), 0), floor)
            if first < stop:
                ranges.append(KafkaRange(t, p, first, stop, self.cluster))
        if not ranges:
            return iter([])
        return iter(self._land(read_ranges(self.connection, ranges, self.read_timeout)))

    def commit(self, end: dict) -> None:
        """Nothing to do: the sink's commit log (same transaction as the rows) is the record."""


def watermark_ahead(
    at: dict[tuple[str, int], int], watermarks: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    """The partitions whose high watermark (from the consumer's fetch responses) is past the
    reader's position (broker offsets), with that watermark."""
    return {tp: hi for tp, hi in watermarks.items() if tp in at and hi > at[tp]}


def drain(consumer: Consumer, max_rows: int) -> list[Any]:
    """What the consumer has already fetched, up to ``max_rows`` messages, without waiting."""
    out: list[Any] = []
    while len(out) < max_rows:
        msgs = consumer.consume(min(50_000, max_rows - len(out)), 0)
        if not msgs:
            break
        out.extend(records_only(msgs))
    return out


def records_only(msgs: list[Any]) -> list[Any]:
    """The records among consumed messages; a partition-EOF event is skipped, an error raised."""
    from confluent_kafka import KafkaError, KafkaException

    errors = [m.error() for m in msgs]
    if not any(errors):  # the usual case: one pass, the list as it is
        return msgs
    for err in errors:
        if err is not None and err.code() != KafkaError._PARTITION_EOF:
            raise KafkaException(err)
    return [m for m, err in zip(msgs, errors, strict=True) if err is None]


def arrow_batches(
    messages: Sequence[Any], begin: dict[tuple[str, int], int]
) -> tuple[list[pa.RecordBatch], dict[tuple[str, int], int]]:
    """Messages as one Arrow batch per partition, in offset order, and each partition's next
    offset, both virtual in the epoch of ``begin`` (virtual offsets per partition). Records below
    ``begin`` (fetched before a re-assignment) are dropped."""
    by_tp: dict[tuple[str, int], list[Any]] = {}
    for m in messages:
        tp = (m.topic(), m.partition())
        if (m.offset() or 0) >= broker_offset(begin.get(tp, 0)):
            by_tp.setdefault(tp, []).append(m)
    schema = arrow_schema()
    batches, ends = [], {}
    for (topic, part), msgs in sorted(by_tp.items()):
        msgs.sort(key=lambda m: m.offset())
        base = begin.get((topic, part), 0) >> EPOCH_SHIFT << EPOCH_SHIFT
        offsets = [base + m.offset() for m in msgs]
        batches.append(
            _batch(
                schema, topic, part, [m.key() for m in msgs], [m.value() for m in msgs],
                offsets, [m.timestamp()[1] for m in msgs],
            )
        )  # fmt: skip
        ends[(topic, part)] = offsets[-1] + 1
    return batches, ends


def _cap(
    begin: dict[tuple[str, int], int], end: dict[tuple[str, int], int], max_rows: int
) -> dict[tuple[str, int], int]:
    """Split ``max_rows`` over the partitions in proportion to their backlog."""
    backlog = {tp: max(0, o - begin.get(tp, 0)) for tp, o in end.items()}
    total = sum(backlog.values())
    if total <= max_rows:
        return end
    capped = {}
    for tp in end:
        share = backlog[tp] * max_rows // total
        capped[tp] = begin.get(tp, 0) + max(share, 1 if backlog[tp] else 0)
    return capped


# --- executor side ----------------------------------------------------------------------------
_CONSUMERS: dict[KafkaConnection, Consumer] = {}
#: A worker's raised fetch wait per connection, and the incarnation (cluster id) it was raised
#: in: a new broker starts empty, so its partitions are shallow again.
_WAITS: dict[KafkaConnection, tuple[str | None, int]] = {}
#: Records per Arrow batch handed to Spark.
BATCH_ROWS = 50_000
#: Seconds without a record while a range is still open before a read takes its fetches for
#: stalled (a partition deeper than the wait can list) and raises the wait.
STALL_SECONDS = 2.0


def _worker_consumer(connection: KafkaConnection) -> Consumer:
    """One consumer per Python worker process and connection, reused across tasks (workers
    are reused), with the worker's fetch wait for that connection."""
    consumer = _CONSUMERS.get(connection)
    if consumer is None:
        wait = _worker_wait(connection)
        consumer = kafka.reader(connection, profiles.BULK_READER, **{"fetch.wait.max.ms": wait})
        _CONSUMERS[connection] = consumer
    return consumer


def _worker_wait(connection: KafkaConnection) -> int:
    """The worker's fetch wait for ``connection``: raised after a stall, else the profile's."""
    raised = _WAITS.get(connection)
    return raised[1] if raised else int(profiles.BULK_READER["fetch.wait.max.ms"])


def _drop_worker_consumer(connection: KafkaConnection) -> None:
    consumer = _CONSUMERS.pop(connection, None)
    if consumer is not None:
        consumer.close()


def _wait_for_incarnation(connection: KafkaConnection, cluster: str | None) -> None:
    """Back to the profile's fetch wait when a read is of another incarnation than the one the
    worker's wait was raised in."""
    raised = _WAITS.get(connection)
    if raised is not None and raised[0] != cluster:
        del _WAITS[connection]
        _drop_worker_consumer(connection)


def _raise_wait(connection: KafkaConnection, cluster: str | None) -> int:
    """Double the worker's fetch wait (up to ``MAX_FETCH_WAIT_MS``) after a stall; the next
    ``_worker_consumer`` is a new consumer with it. Returns the new wait."""
    wait = raised_wait(_worker_wait(connection))
    _WAITS[connection] = (cluster, wait)
    _drop_worker_consumer(connection)
    return wait


def arrow_schema() -> pa.Schema:
    from tillflow.domain.events.records import kafka_arrow_schema

    return kafka_arrow_schema()


class _Fill:
    """One range being read: where it stands and the records not yet handed over."""

    def __init__(self, rng: KafkaRange) -> None:
        self.rng = rng
        self.position = rng.start
        self.keys: list[bytes | None] = []
        self.values: list[bytes | None] = []
        self.offsets: list[int] = []
        self.stamps: list[int] = []

    @property
    def done(self) -> bool:
        return self.position >= self.rng.end

    def add(self, msgs: list[Any]) -> None:
        """Messages of this partition, in offset order; those outside the range are dropped."""
        offs: list[int] = [m.offset() or 0 for m in msgs]  # a record always has one
        lo = bisect.bisect_left(offs, self.position)
        hi = bisect.bisect_left(offs, self.rng.end)
        past_end = hi < len(offs)  # a record at or past the end: nothing more to wait for
        if lo or past_end:
            msgs, offs = msgs[lo:hi], offs[lo:hi]
        if msgs:
            self.keys.extend([m.key() for m in msgs])
            self.values.extend([m.value() for m in msgs])
            self.offsets.extend(offs)
            self.stamps.extend([m.timestamp()[1] for m in msgs])
            self.position = offs[-1] + 1
        if past_end:
            self.position = self.rng.end

    def flush(self, schema: pa.Schema, base: int = 0) -> pa.RecordBatch:
        """The records gathered so far; ``base``: the epoch's first virtual offset."""
        offsets = [base + o for o in self.offsets] if base else self.offsets
        batch = _batch(
            schema, self.rng.topic, self.rng.partition, self.keys, self.values, offsets,
            self.stamps,
        )  # fmt: skip
        self.keys, self.values, self.offsets, self.stamps = [], [], [], []
        return batch


def _by_partition(
    msgs: list[Any], only: tuple[str, int] | None = None
) -> Iterator[tuple[tuple[str, int], list[Any]]]:
    """Runs of consecutive messages of one partition (a fetch response delivers each
    partition's records together). ``only``: the one partition assigned, so all are its."""
    if only is not None:
        if msgs:
            yield only, msgs
        return
    for tp, run in itertools.groupby(msgs, key=lambda m: (m.topic(), m.partition())):
        yield tp, list(run)


def read_ranges(
    connection: KafkaConnection, ranges: Sequence[KafkaRange], timeout: float = 60.0
) -> Iterator[pa.RecordBatch]:
    """The records ``[start, end)`` of each range, as Arrow record batches of one partition
    each (in offset order per partition). One consumer fetches all the ranges together: on this
    broker a fetch returns one record batch per partition and round trip, so reading two
    partitions at once takes about as long as reading one (measured: 50,000 records of one
    partition in 119-177 ms, 50,000 of each of two in 158-164 ms)."""
    from confluent_kafka import TopicPartition

    fills: dict[tuple[str, int], _Fill] = {}
    bases: dict[tuple[str, int], int] = {}  # the ranges' epochs: virtual = base + broker offset
    clusters = {rng.cluster for rng in ranges}
    if len(clusters) > 1:
        raise ValueError(f"ranges of several broker incarnations in one read: {clusters}")
    cluster = clusters.pop() if clusters else None
    for rng in ranges:
        if (rng.topic, rng.partition) in fills:
            raise ValueError(f"two ranges of {rng.topic}[{rng.partition}] in one read")
        if epoch_of(rng.start) != epoch_of(rng.end - 1):
            raise ValueError(f"{rng.topic}[{rng.partition}]: a range across broker epochs")
        if rng.start < rng.end:
            tp = (rng.topic, rng.partition)
            bases[tp] = rng.start - broker_offset(rng.start)
            fills[tp] = _Fill(
                KafkaRange(rng.topic, rng.partition, broker_offset(rng.start),
                           broker_offset(rng.end - 1) + 1)
            )  # fmt: skip
    if not fills:
        return
    _wait_for_incarnation(connection, cluster)
    consumer = _worker_consumer(connection)
    check_cluster(consumer, cluster)
    consumer.assign([TopicPartition(t, p, f.position) for (t, p), f in fills.items()])
    # One partition assigned: everything consumed is its (an earlier assignment's leftovers are
    # dropped by librdkafka), so the messages need no routing.
    single = next(iter(fills)) if len(fills) == 1 else None
    schema = arrow_schema()
    paused: list[TopicPartition] = []
    last_progress = last_consumer = time.monotonic()
    try:
        while True:
            # A finished range stops fetching: its partition's newer records are not ours.
            finished = [
                TopicPartition(t, p)
                for (t, p), f in fills.items()
                if f.done and not any(x.topic == t and x.partition == p for x in paused)
            ]
            if finished:
                consumer.pause(finished)
                paused.extend(finished)
            open_ = [f for f in fills.values() if not f.done]
            if not open_:
                break
            left = sum(f.rng.end - f.position for f in open_)
            # Ask for at most what is left: consume() returns as soon as it has that many.
            msgs = consumer.consume(min(100_000, left), 0.1)
            moved = False
            for tp, run in _by_partition(records_only(msgs), single):
                fill = fills.get(tp)
                if fill is not None and not fill.done:
                    before = fill.position
                    fill.add(run)
                    moved = moved or fill.position != before
            if moved:
                last_progress = time.monotonic()
            else:
                # Offsets with no record (transaction markers, compaction) end a range early:
                # the consumer's own position has passed them.
                positions = consumer.position(
                    [TopicPartition(f.rng.topic, f.rng.partition) for f in open_]
                )
                for f, pos in zip(open_, positions, strict=True):
                    if pos.offset is not None and pos.offset >= f.rng.end:
                        f.position = f.rng.end
                late = [f for f in open_ if not f.done]
                if late and time.monotonic() - last_progress > timeout:
                    rng = late[0].rng
                    raise TimeoutError(
                        f"{rng.topic}[{rng.partition}]: no records past {late[0].position}"
                        f" within {timeout:.0f}s (expected up to {rng.end})"
                    )
                if late and time.monotonic() - max(last_progress, last_consumer) > STALL_SECONDS:
                    # The records exist (the ranges were planned from the broker's end offsets)
                    # but the fetches come back empty: the partition is deeper than this wait
                    # lets the broker list (kafka_profiles). A new consumer with twice the wait,
                    # at the positions reached.
                    wait = _raise_wait(connection, cluster)
                    rng = late[0].rng
                    log.warning(
                        "%s[%d]: no records past %d for %.0f s (range end %d): fetch wait %d ms",
                        rng.topic, rng.partition, late[0].position, STALL_SECONDS, rng.end, wait,
                    )  # fmt: skip
                    consumer = _worker_consumer(connection)
                    paused = []
                    consumer.assign(
                        [TopicPartition(f.rng.topic, f.rng.partition, f.position) for f in late]
                    )
                    last_consumer = time.monotonic()
            for tp, fill in fills.items():
                if len(fill.offsets) >= BATCH_ROWS or (fill.done and fill.offsets):
                    # Read from the incarnation the range is in only if it is still the broker.
                    check_cluster(consumer, cluster)
                    yield fill.flush(schema, bases[tp])
    finally:
        # Leave the consumer idle and nothing paused: a reused worker assigns afresh.
        if paused:
            consumer.resume(paused)
        consumer.assign([])


def _batch(
    schema: pa.Schema,
    topic: str,
    partition: int,
    keys: list[bytes | None],
    values: list[bytes | None],
    offsets: list[int],
    stamps_ms: list[int],
) -> pa.RecordBatch:
    import numpy as np
    import pyarrow as pa

    n = len(offsets)
    ts = np.asarray(stamps_ms, dtype=np.int64) * 1000
    return pa.RecordBatch.from_arrays(
        [
            pa.array(keys, pa.binary()),
            pa.array(values, pa.binary()),
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), pa.array([topic])).cast(
                pa.string()
            ),
            pa.array(np.full(n, partition, np.int32)),
            pa.array(np.asarray(offsets, dtype=np.int64)),
            pa.array(ts, pa.timestamp("us", tz="UTC")),
            pa.array(np.zeros(n, np.int32)),
        ],
        schema=schema,
    )


def offsets_json(offsets: dict[tuple[str, int], int]) -> str:
    """Offsets in the form the native connector's ``startingOffsets`` takes."""
    return json.dumps(_nest(offsets))
