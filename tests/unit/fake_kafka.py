"""A stand-in for confluent_kafka.Message (its methods are C-level) in unit tests of pure logic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FakeMessage:
    t: str
    p: int
    o: int
    err: object | None = None
    v: bytes = b"v"

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o

    def error(self) -> object | None:
        return self.err

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self.v

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)  # (create time, ms)


class FakeConsumer:
    """Enough of confluent_kafka.Consumer for the range reader: ``log`` holds each partition's
    messages; ``consume`` hands them out in offset order from the fetch position, a few per
    partition per call like a fetch response, and skips paused partitions."""

    def __init__(self, log: dict[tuple[str, int], list[FakeMessage]], per_fetch: int = 2) -> None:
        self.log = log
        self.per_fetch = per_fetch
        self.fetch: dict[tuple[str, int], int] = {}
        self.consumed: dict[tuple[str, int], int] = {}
        self.paused: set[tuple[str, int]] = set()
        self.position_after_gap: dict[tuple[str, int], int] = {}
        self.delivered: dict[tuple[str, int], int] = {}  # messages handed out, ever

    def assign(self, partitions: list[Any]) -> None:
        self.fetch = {(tp.topic, tp.partition): tp.offset for tp in partitions}
        self.consumed = dict(self.fetch)

    def pause(self, partitions: list[Any]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[Any]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def consume(self, num: int, timeout: float) -> list[FakeMessage]:
        out: list[FakeMessage] = []
        for tp, at in self.fetch.items():
            if tp in self.paused:
                continue
            batch = [m for m in self.log.get(tp, []) if m.o >= at][: self.per_fetch]
            if batch:
                self.fetch[tp] = batch[-1].o + 1
                self.consumed[tp] = batch[-1].o + 1
                self.delivered[tp] = self.delivered.get(tp, 0) + len(batch)
                out.extend(batch)
            elif tp in self.position_after_gap:
                self.consumed[tp] = self.position_after_gap[tp]
        return out[:num]

    def position(self, partitions: list[Any]) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [
            TopicPartition(tp.topic, tp.partition, self.consumed[(tp.topic, tp.partition)])
            for tp in partitions
        ]
