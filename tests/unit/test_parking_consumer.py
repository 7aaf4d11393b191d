"""The parking consumer's hand-overs between its two clients (fake clients: pure logic).

The real broker is exercised by tests/integration/test_suggestions.py (a parked service wakes on
an order and loses nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from tillflow.jobs.suggestions.parking import ParkingConsumer

T = "orders"


@dataclass
class FakeMessage:
    _offset: int
    _partition: int = 0

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return T

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


@dataclass
class FakeClient:
    """A client over one log per partition: it serves records from its assigned offsets."""

    logs: dict[int, int]  # partition -> number of records in the log
    name: str
    assigned: dict[int, int] = field(default_factory=dict)  # partition -> next offset
    commits: list[Any] = field(default_factory=list)

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = {
            tp.partition: (0 if tp.offset == OFFSET_BEGINNING else tp.offset) for tp in parts
        }

    def unassign(self) -> None:
        self.assigned = {}

    def _take(self, n: int) -> list[FakeMessage]:
        out: list[FakeMessage] = []
        for p, nxt in sorted(self.assigned.items()):
            while nxt < self.logs[p] and len(out) < n:
                out.append(FakeMessage(nxt, p))
                nxt += 1
            self.assigned[p] = nxt
        return out

    def poll(self, timeout: float) -> FakeMessage | None:
        got = self._take(1)
        return got[0] if got else None

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        return self._take(n)

    def seek(self, tp: TopicPartition) -> None:
        assert tp.partition in self.assigned, "seek on a partition this client does not hold"
        self.assigned[tp.partition] = tp.offset

    def commit(self, **kwargs: Any) -> None:
        self.commits.append(kwargs)

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(logs: dict[int, int], park_after: float = 10.0) -> tuple[Any, Any, Any, Clock]:
    clock = Clock()
    awake, parked = FakeClient(dict(logs), "awake"), FakeClient(logs, "parked")
    parked.logs = awake.logs  # one broker: both clients see the same logs
    consumer = ParkingConsumer(awake, parked, park_after, clock)  # type: ignore[arg-type]
    consumer.assign([TopicPartition(T, p, OFFSET_BEGINNING) for p in sorted(logs)])
    return consumer, awake, parked, clock


def read_all(consumer: ParkingConsumer) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    while (first := consumer.poll(0)) is not None:
        for msg in [first, *consumer.consume(3, 0)]:
            seen.append((msg.partition(), msg.offset()))
    return seen


def test_it_parks_only_after_the_idle_time_and_with_nothing_in_flight() -> None:
    consumer, awake, parked, clock = make({0: 2})
    assert read_all(consumer) == [(0, 0), (0, 1)]
    clock.now = 9.9
    assert not consumer.maybe_park(idle_allowed=True)
    clock.now = 10.0
    assert not consumer.maybe_park(idle_allowed=False)  # a batch is still in flight
    assert consumer.state == "awake" and awake.assigned == {0: 2}
    assert consumer.maybe_park(idle_allowed=True)
    assert consumer.state == "parked" and consumer.parks == 1
    # the parked client holds the partitions where the awake one stopped; the awake holds none
    assert parked.assigned == {0: 2} and awake.assigned == {}


def test_records_arriving_while_parked_are_read_once_in_order_and_wake_it() -> None:
    consumer, awake, parked, clock = make({0: 3, 1: 1})
    assert len(read_all(consumer)) == 4
    clock.now = 20.0
    consumer.maybe_park(idle_allowed=True)
    awake.logs[0] = 10  # a burst arrives
    awake.logs[1] = 4
    first = consumer.poll(0)
    assert first is not None and consumer.state == "parked"  # handed over as usual
    rest = consumer.consume(2, 0)
    # the next poll moves the partitions back to the awake client at what was consumed
    seen = [(m.partition(), m.offset()) for m in [first, *rest]] + read_all(consumer)
    assert consumer.state == "awake" and parked.assigned == {}
    assert sorted(seen) == [(0, o) for o in range(3, 10)] + [(1, o) for o in range(1, 4)]
    assert len(seen) == len(set(seen))


def test_a_seek_before_parking_is_where_the_parked_client_starts() -> None:
    # after a failed batch the service rewinds: the rewound records must be read again
    consumer, _, parked, clock = make({0: 5})
    assert len(read_all(consumer)) == 5
    consumer.seek(TopicPartition(T, 0, 3))
    clock.now = 30.0
    consumer.maybe_park(idle_allowed=True)
    assert parked.assigned == {0: 3}
    assert read_all(consumer) == [(0, 3), (0, 4)]


def test_parking_before_any_record_keeps_the_assigned_offsets() -> None:
    consumer, _, parked, clock = make({0: 0, 1: 0})
    clock.now = 10.0
    consumer.maybe_park(idle_allowed=True)
    assert parked.assigned == {0: 0, 1: 0}


def test_zero_never_parks_and_a_negative_wait_is_refused() -> None:
    consumer, _, _, clock = make({0: 0}, park_after=0)
    clock.now = 1e9
    assert not consumer.maybe_park(idle_allowed=True)
    with pytest.raises(ValueError, match="park_after"):
        make({0: 0}, park_after=-1)


def test_commits_go_through_the_awake_client_even_while_parked() -> None:
    consumer, awake, parked, clock = make({0: 1})
    read_all(consumer)
    clock.now = 10.0
    consumer.maybe_park(idle_allowed=True)
    consumer.commit(offsets=[TopicPartition(T, 0, 1)], asynchronous=True)
    assert len(awake.commits) == 1 and parked.commits == []
