"""Where the order loop resumes after a failed batch, and what it commits after a done one."""

from __future__ import annotations

from tests.unit.test_kafka_offsets import FakeMessage
from tillflow.jobs.suggestions.pipeline import Batch, rewind_points


def _batch(*coords: tuple[str, int, int]) -> Batch:
    return Batch.of([FakeMessage(t, p, o) for t, p, o in coords], [])  # type: ignore[misc]


def test_a_batch_knows_its_first_offsets_and_what_to_commit() -> None:
    # Given a batch spanning two partitions, out of order within one
    batch = _batch(("o", 0, 12), ("o", 1, 4), ("o", 0, 10), ("o", 0, 11))
    # Then it rewinds to the first offset of each and commits one past the last
    assert batch.firsts == {("o", 0): 10, ("o", 1): 4}
    assert [(tp.partition, tp.offset) for tp in batch.commit] == [(0, 13), (1, 5)]


def test_the_rewind_goes_to_the_earliest_offset_not_done_per_partition() -> None:
    # Given a failed batch and a later one already handed to the writer
    failed = _batch(("o", 0, 10), ("o", 1, 4))
    later = _batch(("o", 0, 20), ("o", 2, 7))
    # Then each partition resumes at its first offset in either
    assert rewind_points([failed, later]) == {("o", 0): 10, ("o", 1): 4, ("o", 2): 7}


def test_nothing_pending_means_no_rewind() -> None:
    assert rewind_points([]) == {}
