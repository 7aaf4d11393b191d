"""Kafka clients configured for the platform's broker (see DESIGN.md for the Tansu tuning)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tillflow import config

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, Producer, TopicPartition


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        # The broker accepts but does not honour transactions: sinks are idempotent instead.
        "enable.idempotence": False,
        "compression.type": "lz4",
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1_000_000,
        **overrides,
    }


def consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        **config.KAFKA_CONSUMER_TUNING,
        **overrides,
    }


def producer(bootstrap: str, **overrides: Any) -> Producer:
    from confluent_kafka import Producer

    return Producer(producer_config(bootstrap, **overrides))


def consumer(bootstrap: str, group_id: str, **overrides: Any) -> Consumer:
    from confluent_kafka import Consumer

    return Consumer(consumer_config(bootstrap, group_id, **overrides))


def ensure_topics(
    bootstrap: str, topics: Iterable[str] | Mapping[str, int], partitions: int = 4
) -> list[str]:
    """Create the topics that do not exist yet; return those created."""
    from confluent_kafka.admin import AdminClient, NewTopic

    wanted = dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, partitions)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    missing = [NewTopic(t, n, 1) for t, n in wanted.items() if t not in existing]
    if not missing:
        return []
    for future in admin.create_topics(missing).values():
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
