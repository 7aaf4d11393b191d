"""The tail reader's pure steps: drained messages to Arrow batches and next offsets."""

from __future__ import annotations

from spark.kafka_source import arrow_batches
from tests.unit.fake_kafka import FakeMessage as Msg


def test_one_batch_per_partition_in_offset_order_and_the_next_offsets() -> None:
    msgs = [Msg("s", 1, 7), Msg("s", 0, 3), Msg("s", 1, 5), Msg("s", 0, 4)]
    batches, ends = arrow_batches(msgs, {("s", 0): 3, ("s", 1): 5})
    assert [(b.column(2)[0].as_py(), b.column(3)[0].as_py()) for b in batches] == [
        ("s", 0),
        ("s", 1),
    ]
    assert [b.column(4).to_pylist() for b in batches] == [[3, 4], [5, 7]]
    assert ends == {("s", 0): 5, ("s", 1): 8}


def test_records_before_the_start_are_dropped() -> None:
    # fetched before a re-assignment to the commit log's offset
    batches, ends = arrow_batches([Msg("s", 0, 1), Msg("s", 0, 2)], {("s", 0): 2})
    assert [b.column(4).to_pylist() for b in batches] == [[2]]
    assert ends == {("s", 0): 3}


def test_nothing_drained_is_nothing_to_land() -> None:
    assert arrow_batches([], {("s", 0): 0}) == ([], {})
