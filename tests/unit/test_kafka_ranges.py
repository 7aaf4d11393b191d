"""Reading several offset ranges with one consumer: the pure steps (routing and cutting)."""

from __future__ import annotations

from spark.kafka_source import KafkaRange, _by_partition, _Fill, arrow_schema
from tests.unit.fake_kafka import FakeMessage as Msg


def test_a_range_keeps_only_its_offsets_and_ends_at_its_end() -> None:
    fill = _Fill(KafkaRange("s", 0, 5, 9))
    fill.add([Msg("s", 0, 3), Msg("s", 0, 4), Msg("s", 0, 5), Msg("s", 0, 6)])
    assert (fill.offsets, fill.position, fill.done) == ([5, 6], 7, False)
    fill.add([Msg("s", 0, 7), Msg("s", 0, 8), Msg("s", 0, 9), Msg("s", 0, 10)])
    assert (fill.offsets, fill.position, fill.done) == ([5, 6, 7, 8], 9, True)


def test_a_record_past_the_end_completes_a_range_with_gaps() -> None:
    # offsets 7 and 8 hold no record (a transaction marker, compaction)
    fill = _Fill(KafkaRange("s", 0, 5, 9))
    fill.add([Msg("s", 0, 6), Msg("s", 0, 11)])
    assert (fill.offsets, fill.done) == ([6], True)


def test_flush_hands_over_one_batch_and_starts_afresh() -> None:
    fill = _Fill(KafkaRange("s", 2, 0, 3))
    fill.add([Msg("s", 2, 0), Msg("s", 2, 1)])
    batch = fill.flush(arrow_schema())
    assert batch.column(4).to_pylist() == [0, 1]
    assert set(batch.column(3).to_pylist()) == {2}
    assert fill.offsets == [] and fill.position == 2


def test_messages_split_into_runs_per_partition_in_arrival_order() -> None:
    msgs = [Msg("s", 0, 1), Msg("s", 0, 2), Msg("s", 1, 7), Msg("s", 0, 3), Msg("o", 0, 1)]
    runs = [(tp, [m.offset() for m in run]) for tp, run in _by_partition(msgs)]
    assert runs == [(("s", 0), [1, 2]), (("s", 1), [7]), (("s", 0), [3]), (("o", 0), [1])]
