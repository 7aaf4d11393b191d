"""Where the suggestion service's consumers start: the group's committed offsets, the beginning
where none, and the beginning where a commit lies past its partition's end (a run still reading
an earlier broker committed it to this one; fetched there, this broker would answer nothing
until the partition reached it and then skip what came before)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from tillflow.jobs.suggestions.consumer import assign_committed

pytestmark = pytest.mark.unit


class Consumer:
    def __init__(self, committed: dict[int, int]) -> None:
        self.commits = committed
        self.assigned: list[TopicPartition] = []

    def list_topics(self, timeout: float) -> Any:
        topic = SimpleNamespace(error=None, partitions={p: None for p in self.commits})
        return SimpleNamespace(topics={"orders": topic})

    def committed(self, parts: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.commits[tp.partition]) for tp in parts]

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = parts


def test_commits_within_the_partitions_are_kept_and_the_rest_start_at_the_beginning() -> None:
    # Given commits: within its partition, none, and past the new broker's end
    consumer = Consumer({0: 12, 1: -1001, 2: 40})
    ends = {("orders", 0): 20, ("orders", 1): 5, ("orders", 2): 10}
    # When the consumer is assigned
    assert assign_committed(consumer, ["orders"], ends) == ["orders"]  # type: ignore[arg-type]
    # Then it starts at 12, at the beginning, and at the beginning
    assert [(tp.partition, tp.offset) for tp in consumer.assigned] == [
        (0, 12), (1, OFFSET_BEGINNING), (2, OFFSET_BEGINNING),
    ]  # fmt: skip


def test_without_end_offsets_the_commits_are_taken_as_they_are() -> None:
    consumer = Consumer({0: 40})
    assign_committed(consumer, ["orders"])  # type: ignore[arg-type]
    assert [(tp.partition, tp.offset) for tp in consumer.assigned] == [(0, 40)]
