"""What a consumer commits after a batch: exactly one past that batch's messages."""

from __future__ import annotations

from tests.unit.fake_kafka import FakeMessage
from tillflow.adapters.kafka import next_offsets


def test_one_past_the_highest_offset_of_each_partition() -> None:
    batch = [FakeMessage("a", 0, 7), FakeMessage("a", 1, 3), FakeMessage("a", 0, 9),
             FakeMessage("b", 0, 0), FakeMessage("a", 0, 8)]  # fmt: skip
    got = [(tp.topic, tp.partition, tp.offset) for tp in next_offsets(batch)]  # type: ignore[arg-type]
    assert got == [("a", 0, 10), ("a", 1, 4), ("b", 0, 1)]


def test_error_events_and_empty_batches_commit_nothing() -> None:
    assert next_offsets([FakeMessage("a", 0, -1001, err="partition EOF")]) == []  # type: ignore[list-item]
    assert next_offsets([]) == []
