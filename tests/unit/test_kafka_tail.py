"""The tail reader's pure steps: drained messages to Arrow batches and next offsets."""

from __future__ import annotations

from typing import Any

import pytest

from spark.kafka_source import (
    LIST_EVERY,
    MAX_FETCH_WAIT_MS,
    KafkaTailReader,
    arrow_batches,
    watermark_ahead,
)
from tests.unit.fake_kafka import FakeMessage as Msg
from tillflow.adapters import kafka_profiles as profiles

pytestmark = pytest.mark.unit


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


class _ListingConsumer:
    """ListOffsets answers (uncached): the broker's end offsets."""

    def __init__(self, ends: dict[tuple[str, int], int]) -> None:
        self.ends = ends
        self.listed = 0

    def get_watermark_offsets(self, tp: Any, cached: bool = False, timeout: float = 0) -> tuple:
        assert not cached
        self.listed += 1
        return 0, self.ends[(tp.topic, tp.partition)]


def test_a_consumer_behind_the_broker_is_caught_by_list_offsets_at_most_every_few_seconds() -> None:
    # Given a consumer whose end offsets stalled on one partition (its fetches stopped)
    reader = KafkaTailReader.__new__(KafkaTailReader)
    reader._listed_at = 0.0
    broker = _ListingConsumer({("s", 0): 10, ("s", 1): 1_000_000})
    cached = {("s", 0): 10, ("s", 1): 400_000}
    # When the reader checks: the stalled partition is reported at the broker's offset
    ahead = reader._listed_ahead(broker, [("s", 0), ("s", 1)], cached)  # type: ignore[arg-type]
    assert ahead == {("s", 1): 1_000_000}
    # And not again before LIST_EVERY seconds (a ListOffsets per partition per check)
    assert reader._listed_ahead(broker, [("s", 0), ("s", 1)], cached) is None  # type: ignore[arg-type]
    assert broker.listed == 2
    reader._listed_at -= LIST_EVERY
    assert reader._listed_ahead(broker, [("s", 0)], {("s", 0): 10}) == {}  # type: ignore[arg-type]


def test_a_stall_is_two_checks_without_progress_and_doubles_the_next_consumers_fetch_wait() -> None:
    # Given a reader at the profile's wait, with the broker ahead on one partition
    reader = KafkaTailReader.__new__(KafkaTailReader)
    reader._behind, reader.fetch_wait_ms = {}, 100
    ahead = {("s", 1): 1_000_000}
    # When the first check sees it: not a stall yet (the reader may be catching up)
    assert reader._stalled(ahead, {("s", 0): 10, ("s", 1): 400_000}) == {}
    assert reader.fetch_wait_ms == 100
    # And progress between two checks is no stall either
    assert reader._stalled(ahead, {("s", 0): 10, ("s", 1): 450_000}) == {}
    # Then the same offset at the next check is: the broker answers this wait's fetches empty
    assert reader._stalled(ahead, {("s", 0): 10, ("s", 1): 450_000}) == ahead
    assert reader.fetch_wait_ms == 200
    # And stalls go on doubling it, up to the cap
    for _ in range(10):
        reader._stalled(ahead, {("s", 0): 10, ("s", 1): 450_000})
    assert reader.fetch_wait_ms == MAX_FETCH_WAIT_MS


def test_a_reader_behind_its_own_watermark_at_two_checks_is_stalled() -> None:
    # Given a partition whose last batch (27 records) a short wait cannot reach: fetches come
    # back empty but carry the high watermark, and ListOffsets shows nothing ahead
    reader = KafkaTailReader.__new__(KafkaTailReader)
    reader._behind, reader.fetch_wait_ms = {}, 10
    at = {("s", 0): 1_000, ("s", 1): 5_973}
    watermarks = {("s", 0): 1_000, ("s", 1): 6_000}
    behind = watermark_ahead(at, watermarks)
    assert behind == {("s", 1): 6_000}
    # When two checks find the reader where it was: a stall, and the next consumer waits longer
    assert reader._stalled(behind, at) == {}
    assert reader._stalled(watermark_ahead(at, watermarks), at) == {("s", 1): 6_000}
    assert reader.fetch_wait_ms == 20
    # And a reader at its watermark is not behind
    assert watermark_ahead({("s", 1): 6_000}, watermarks) == {}


def test_a_raised_wait_goes_back_once_a_check_finds_the_reader_caught_up() -> None:
    base = int(profiles.TAIL_READER["fetch.wait.max.ms"])
    reader = KafkaTailReader.__new__(KafkaTailReader)
    reader.fetch_wait_ms = MAX_FETCH_WAIT_MS
    # The broker still ahead (by ListOffsets or by the consumer's own watermark): kept
    assert not reader._caught_up({("s", 0): 500}, {})
    assert not reader._caught_up({}, {("s", 0): 500})
    assert reader.fetch_wait_ms == MAX_FETCH_WAIT_MS
    # Nothing ahead: back to the profile's wait, and a new consumer at the next read
    assert reader._caught_up({}, {})
    assert reader.fetch_wait_ms == base
    # Already there: nothing to do
    assert not reader._caught_up({}, {})
