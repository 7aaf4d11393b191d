"""A stand-in for confluent_kafka.Message (its methods are C-level) in unit tests of pure logic."""

from __future__ import annotations

from dataclasses import dataclass


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
