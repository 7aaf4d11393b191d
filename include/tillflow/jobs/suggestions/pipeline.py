"""Two stages for the order loop: the consumer thread decides batch N+1 while a writer thread
stores and publishes batch N.

Deciding (parse + one pipelined Redis round trip) is Python work; storing and publishing is
mostly waiting on PostgreSQL (the statement and the WAL flush) and on the broker's
acknowledgement, with the GIL released. One batch in flight and one waiting is enough to keep
both busy; more would only add latency.

Order is what keeps the guarantees: the writer takes batches in consumption order, and a batch's
offsets are committed (by the consumer thread, the only one touching the consumer) only once it
is stored and published. When the writer fails a batch, it drops every later one unprocessed; the
consumer thread then rewinds each partition to the first offset not yet done and retries.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tillflow.adapters import kafka
from tillflow.domain.suggestions.rule import Suggestion
from tillflow.jobs.suggestions.engine import BatchResult, SuggestionEngine

if TYPE_CHECKING:
    from confluent_kafka import Message, TopicPartition

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """A decided batch: its suggestions and where it lies in the topic."""

    suggestions: list[Suggestion]
    #: one past the last offset per partition: what to commit once the batch is done
    commit: list[TopicPartition]
    #: the first offset per partition: where to rewind to if it fails
    firsts: dict[tuple[str, int], int] = field(default_factory=dict)
    #: time.time() when the first message was consumed and when the batch was decided
    consumed_at: float = 0.0
    decided_at: float = 0.0

    @classmethod
    def of(
        cls, messages: Sequence[Message], suggestions: list[Suggestion], consumed_at: float = 0.0
    ) -> Batch:
        firsts = {key: first for key, (first, _) in kafka.offset_ranges(messages).items()}
        return cls(suggestions, kafka.next_offsets(messages), firsts, consumed_at, time.time())


def rewind_points(batches: Iterable[Batch]) -> dict[tuple[str, int], int]:
    """The lowest first offset per partition over batches not done: where to resume."""
    points: dict[tuple[str, int], int] = {}
    for batch in batches:
        for key, offset in batch.firsts.items():
            points[key] = min(points.get(key, offset), offset)
    return points


class BatchWriter(threading.Thread):
    """Runs ``engine.store_and_publish`` for each batch, in order (see the module docstring).

    ``done`` receives each batch once stored and published, after ``after_batch(batch, result)``
    (the service's latency log). After a failure, ``failed`` holds
    the exception and every later batch is dropped unprocessed until ``resume()``.
    """

    def __init__(
        self, engine: SuggestionEngine, after_batch: Callable[[Batch, BatchResult], None]
    ) -> None:
        super().__init__(name="suggestion-writer", daemon=True)
        self.engine = engine
        self.after_batch = after_batch
        self.inbox: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self.done: queue.Queue[Batch] = queue.Queue()
        self.failed: BaseException | None = None

    def submit(self, batch: Batch) -> None:
        """Hand over a batch; blocks while the writer has one in hand and one waiting."""
        self.inbox.put(batch)

    def settle(self) -> None:
        """Wait until every batch handed over is done or dropped."""
        self.inbox.join()

    def resume(self) -> None:
        """Accept batches again after a failure (once the consumer has rewound)."""
        self.failed = None

    def finish(self) -> None:
        """Process what was handed over, then stop (the final publish marks are written)."""
        self.inbox.put(None)
        self.join(timeout=60)

    def run(self) -> None:
        while True:
            try:
                # A batch is taken at once either way; with nothing to mark, wake once a second.
                batch = self.inbox.get(timeout=0.1 if self.engine.has_unmarked else 1.0)
            except queue.Empty:
                self._mark_published()  # idle: record the acknowledged suggestions
                continue
            try:
                if batch is None:
                    self._mark_published(force=True)
                    return
                if self.failed is not None:
                    continue  # after a failed batch: dropped, it will be consumed again
                try:
                    result = self.engine.store_and_publish(batch.suggestions)
                    self.after_batch(batch, result)
                    self.done.put(batch)
                except Exception as exc:
                    log.exception("batch of %d suggestions failed", len(batch.suggestions))
                    self.engine.store.close()  # reconnect on the next try
                    self.failed = exc
            finally:
                self.inbox.task_done()

    def _mark_published(self, force: bool = False) -> None:
        try:
            self.engine.mark_published(force=force)
        except Exception:  # not fatal: an unmarked suggestion is only re-published if redelivered
            log.exception("marking suggestions published failed")
            with contextlib.suppress(Exception):
                self.engine.store.close()
