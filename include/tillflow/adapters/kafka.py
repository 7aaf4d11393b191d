"""Kafka clients configured for the platform's broker: their profiles are in ``kafka_profiles``
(docs/environment.md has the broker facts behind the tuning)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tillflow.adapters import kafka_profiles as profiles
from tillflow.config import KafkaConnection, TopicLayout

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient


def producer_config(
    connection: KafkaConnection, profile: profiles.Profile = profiles.PRODUCER, /, **overrides: Any
) -> dict[str, Any]:
    return profiles.client_config(connection, profile, **overrides)


def consumer_config(
    connection: KafkaConnection,
    group_id: str,
    profile: profiles.Profile = profiles.GROUP_CONSUMER,
    /,
    **overrides: Any,
) -> dict[str, Any]:
    """A group consumer's configuration (``profile``: one of the group consumers' profiles)."""
    return profiles.client_config(connection, {"group.id": group_id, **profile}, **overrides)


def producer(
    connection: KafkaConnection, profile: profiles.Profile = profiles.PRODUCER, /, **overrides: Any
) -> Producer:
    from confluent_kafka import Producer

    return Producer(producer_config(connection, profile, **overrides))


def consumer(
    connection: KafkaConnection,
    group_id: str,
    profile: profiles.Profile = profiles.GROUP_CONSUMER,
    /,
    **overrides: Any,
) -> Consumer:
    from confluent_kafka import Consumer

    return Consumer(consumer_config(connection, group_id, profile, **overrides))


def reader(connection: KafkaConnection, profile: profiles.Profile, /, **overrides: Any) -> Consumer:
    """A consumer that never joins a group (``assign`` only): ``profile`` names its group id."""
    from confluent_kafka import Consumer

    return Consumer(profiles.client_config(connection, profile, **overrides))


def admin(connection: KafkaConnection) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient(profiles.client_config(connection, profiles.ADMIN))


def cluster_id(client: Consumer | Producer | AdminClient, timeout: float = 10.0) -> str:
    """The broker's cluster id, from a metadata request (never a cached answer): with the local
    broker, a new one at every start (``runtime.services.Kafka``), so it names an incarnation."""
    meta = client.list_topics(timeout=timeout)
    if not meta.cluster_id:
        raise RuntimeError("the broker reported no cluster id")
    return str(meta.cluster_id)


class IncarnationWatch:
    """Whether the broker a client talks to is still the one it first saw (its cluster id, asked
    at most every ``every`` seconds). A broker that cannot be asked is no answer: the next look
    asks again."""

    def __init__(
        self,
        client: Consumer | Producer | AdminClient,
        every: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.client, self.every = client, every
        self.clock = clock or time.monotonic
        self.first: str | None = None
        self.now: str | None = None
        self._asked_at: float | None = None

    def changed(self) -> bool:
        at = self.clock()
        if self._asked_at is not None and at - self._asked_at < self.every:
            return False
        self._asked_at = at
        try:
            self.now = cluster_id(self.client, timeout=min(self.every, 2.0))
        except Exception:
            return False
        if self.first is None:
            self.first = self.now
        return self.now != self.first


def end_offsets(
    connection: KafkaConnection, topics: Iterable[str], timeout: float = 10.0
) -> dict[tuple[str, int], int]:
    """The end offset of every partition of the existing ``topics``, from fetch responses: this
    broker answers ListOffsets with the last batch's base offset, so a watcher is assigned just
    before it and waits for the first fetch response of each partition."""
    import time

    from confluent_kafka import TopicPartition

    watcher = reader(connection, profiles.TAIL_WATCHER)
    try:
        meta = watcher.list_topics(timeout=timeout)
        tps = [
            (t, p)
            for t in topics
            if (tm := meta.topics.get(t)) is not None and tm.error is None
            for p in sorted(tm.partitions)
        ]
        starts = []
        for t, p in tps:
            _, hi = watcher.get_watermark_offsets(TopicPartition(t, p), cached=False, timeout=10)
            starts.append(TopicPartition(t, p, max(0, hi - 1)))
        watcher.assign(starts)
        deadline = time.monotonic() + timeout
        ends: dict[tuple[str, int], int] = {}
        while True:
            ends = {
                (t, p): watcher.get_watermark_offsets(TopicPartition(t, p), cached=True)[1]
                for t, p in tps
            }
            if all(o >= 0 for o in ends.values()):
                return ends
            if time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response within {timeout:.0f}s for {ends}")
            watcher.consume(10_000, 0.01)
    finally:
        watcher.close()


def tails_served(
    connection: KafkaConnection, ends: Mapping[tuple[str, int], int], wait_ms: int, timeout: float
) -> set[tuple[str, int]]:
    """The partitions of ``ends`` (end offsets; empty ones left out) whose last record a new
    consumer with a ``wait_ms`` fetch wait reads within ``timeout`` seconds. This broker lists a
    partition's batches within each fetch's wait and answers empty when the listing runs out of
    time (``kafka_profiles``), so a partition left out of the answer is deeper than that wait
    can list."""
    import time

    from confluent_kafka import TopicPartition

    wanted = {tp: end - 1 for tp, end in ends.items() if end > 0}
    if not wanted:
        return set()
    probe = reader(
        connection,
        {"group.id": "tillflow-depth-probe", "fetch.wait.max.ms": wait_ms},  # assign only
    )
    served: set[tuple[str, int]] = set()
    try:
        probe.assign([TopicPartition(t, p, o) for (t, p), o in wanted.items()])
        deadline = time.monotonic() + timeout
        while len(served) < len(wanted) and time.monotonic() < deadline:
            for msg in probe.consume(1_000, 0.1):
                if msg.error() is None:
                    served.add((str(msg.topic()), int(msg.partition() or 0)))
    finally:
        probe.close()
    return served


def group_committed(
    connection: KafkaConnection, group: str, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The offsets ``group`` committed for ``partitions`` (0 where none), without joining it."""
    from confluent_kafka import TopicPartition

    wanted = [TopicPartition(t, p) for t, p in partitions]
    if not wanted:
        return {}
    client = consumer(connection, group)
    try:
        return {
            (tp.topic, tp.partition): max(0, tp.offset)
            for tp in client.committed(wanted, timeout=10)
        }
    finally:
        client.close()


def ensure_topics(
    connection: KafkaConnection,
    topics: Iterable[str] | Mapping[str, int],
    layout: TopicLayout | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return those created. A topic given without a
    partition count gets ``layout``'s, every one its replication factor (``layout`` defaults to
    the environment's: ``TILLFLOW_KAFKA_PARTITIONS``, ``TILLFLOW_KAFKA_REPLICATION_FACTOR``)."""
    from confluent_kafka.admin import NewTopic

    layout = layout or TopicLayout.from_env()
    wanted = (
        dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, layout.partitions)
    )
    client = admin(connection)
    existing = set(client.list_topics(timeout=10).topics)
    missing = [
        NewTopic(t, n, layout.replication_factor) for t, n in wanted.items() if t not in existing
    ]
    if not missing:
        return []
    for future in client.create_topics(missing).values():
        future.result(timeout=10)
    return [t.topic for t in missing]


def offset_ranges(messages: Iterable[Message]) -> dict[tuple[str, int], tuple[int, int]]:
    """(first, last) offset per (topic, partition) of ``messages``; error events are skipped."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for m in messages:
        if m.error() is not None:
            continue
        key = (m.topic() or "", m.partition() or 0)
        offset = m.offset() or 0
        first, last = ranges.get(key, (offset, offset))
        ranges[key] = (min(first, offset), max(last, offset))
    return ranges


def next_offsets(messages: Iterable[Message]) -> list[TopicPartition]:
    """One past the highest offset of ``messages`` per partition: what to commit once exactly
    these messages are done.

    ``consumer.commit()`` without offsets commits the consumer's *positions* when librdkafka's
    thread handles the request, which may already include messages consumed after the call
    (a later batch, not yet processed): a crash then skips them. Commit these offsets instead.
    """
    from confluent_kafka import TopicPartition

    return [
        TopicPartition(t, p, last + 1)
        for (t, p), (_, last) in sorted(offset_ranges(messages).items())
    ]
