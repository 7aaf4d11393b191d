"""Reading several offset ranges with one consumer: the pure steps (routing and cutting)."""

from __future__ import annotations

from typing import Any

import pytest

from spark import kafka_source
from spark.kafka_source import KafkaRange, _by_partition, _Fill, arrow_schema
from tests.unit.fake_kafka import FakeConsumer
from tests.unit.fake_kafka import FakeMessage as Msg
from tillflow.config import KafkaConnection


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


def _read(
    monkeypatch: pytest.MonkeyPatch, consumer: FakeConsumer, ranges: list[KafkaRange], **kw: Any
) -> dict[tuple[str, int], list[int]]:
    monkeypatch.setattr(kafka_source, "_worker_consumer", lambda connection: consumer)
    got: dict[tuple[str, int], list[int]] = {}
    for batch in kafka_source.read_ranges(KafkaConnection("fake:9092"), ranges, **kw):
        tp = (batch.column(2)[0].as_py(), batch.column(3)[0].as_py())
        got.setdefault(tp, []).extend(batch.column(4).to_pylist())
    return got


def test_ranges_read_together_give_exactly_their_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    # partition 0 goes on well past its range (newer records keep arriving)
    log = {
        ("s", 0): [Msg("s", 0, o) for o in range(40)],
        ("s", 1): [Msg("s", 1, o) for o in range(9)],
    }
    consumer = FakeConsumer(log)
    got = _read(monkeypatch, consumer, [KafkaRange("s", 0, 2, 5), KafkaRange("s", 1, 0, 9)])
    assert got == {("s", 0): [2, 3, 4], ("s", 1): list(range(9))}
    assert consumer.paused == set() and consumer.fetch == {}  # left idle for the next task
    # partition 0 stopped fetching once its range was done (2 fetches of 2), while partition 1
    # went on for 5 more
    assert consumer.delivered == {("s", 0): 4, ("s", 1): 9}


def test_a_range_ending_in_offsets_without_records_ends_by_position(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = FakeConsumer({("s", 0): [Msg("s", 0, 5), Msg("s", 0, 6)]})
    consumer.position_after_gap[("s", 0)] = 9  # 7 and 8 are transaction markers
    assert _read(monkeypatch, consumer, [KafkaRange("s", 0, 5, 9)]) == {("s", 0): [5, 6]}


def test_records_that_never_come_time_out_naming_the_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = FakeConsumer({("s", 3): [Msg("s", 3, 0)]})
    with pytest.raises(TimeoutError, match=r"s\[3\]: no records past 1"):
        _read(monkeypatch, consumer, [KafkaRange("s", 3, 0, 5)], timeout=0.0)


def test_two_ranges_of_one_partition_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="two ranges"):
        _read(monkeypatch, FakeConsumer({}), [KafkaRange("s", 0, 0, 2), KafkaRange("s", 0, 2, 4)])


def test_with_one_partition_assigned_the_messages_are_its_without_routing() -> None:
    msgs = [Msg("s", 4, 1), Msg("s", 4, 2)]
    assert [(tp, len(run)) for tp, run in _by_partition(msgs, ("s", 4))] == [(("s", 4), 2)]
    assert list(_by_partition([], ("s", 4))) == []


def test_records_only_skips_partition_ends_and_raises_on_errors() -> None:
    from confluent_kafka import KafkaError, KafkaException

    msgs = [Msg("s", 0, 1), Msg("s", 0, 2)]
    assert kafka_source.records_only(msgs) is msgs  # nothing went wrong: the list as it is
    eof = Msg("s", 0, 3, err=KafkaError(KafkaError._PARTITION_EOF))
    assert kafka_source.records_only([*msgs, eof]) == msgs
    with pytest.raises(KafkaException):
        kafka_source.records_only([*msgs, Msg("s", 0, 3, err=KafkaError(KafkaError._FAIL))])


class _StalledConsumer(FakeConsumer):
    """A consumer whose fetches come back empty (a partition deeper than its wait lists)."""

    def consume(self, num: int, timeout: float) -> list[Msg]:
        return []


def test_a_stalled_read_raises_the_fetch_wait_and_goes_on_where_it_stood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = {("s", 0): [Msg("s", 0, o) for o in range(6)]}
    stalled = _StalledConsumer(log)
    stalled.consumed = {("s", 0): 2}
    fresh = FakeConsumer(log)
    consumers = iter([stalled, fresh])
    monkeypatch.setattr(kafka_source, "_worker_consumer", lambda connection: next(consumers))
    monkeypatch.setattr(kafka_source, "_WAITS", {})
    monkeypatch.setattr(kafka_source, "STALL_SECONDS", 0.0)
    got = [
        o
        for batch in kafka_source.read_ranges(
            KafkaConnection("fake:9092"), [KafkaRange("s", 0, 2, 6)], timeout=30.0
        )
        for o in batch.column(4).to_pylist()
    ]
    assert got == [2, 3, 4, 5]
    assert fresh.delivered == {("s", 0): 4}  # the new consumer started where the read stood
    assert kafka_source._WAITS[KafkaConnection("fake:9092")] == (None, 20)


def test_a_raised_wait_holds_for_its_incarnation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = KafkaConnection("fake:9092")
    monkeypatch.setattr(kafka_source, "_WAITS", {})
    monkeypatch.setattr(kafka_source, "_CONSUMERS", {})
    assert kafka_source._raise_wait(conn, "a") == 20
    assert kafka_source._raise_wait(conn, "a") == 40
    kafka_source._wait_for_incarnation(conn, "a")
    assert kafka_source._WAITS[conn] == ("a", 40)
    kafka_source._wait_for_incarnation(conn, "b")  # a new broker: shallow partitions again
    assert conn not in kafka_source._WAITS
    for _ in range(20):
        wait = kafka_source._raise_wait(conn, "b")
    assert wait == kafka_source.MAX_FETCH_WAIT_MS
