"""One batch of order events -> decisions -> OLTP -> ``order_suggestion_accepted``.

The order of the steps is what makes "at most once" and "published means stored" hold:

1. decide every order of the batch (one pipelined Redis round trip, ``cache.facts_many``);
2. store the accepted suggestions in OLTP in one statement (``store.apply``: the claim, the line
   and the outbox row commit together, or not at all);
3. once committed, publish what this batch stored (plus stored-but-never-acknowledged
   suggestions of redelivered orders) and wait for the broker's acknowledgements;
4. mark them published (batched: at most one UPDATE per ``MARK_EVERY_S``); the caller then
   commits the consumer offsets.

A crash between 2 and 4 re-publishes the same stored suggestion on redelivery (same key, same
content, from the stored row): consumers of the topic deduplicate on the key ``order_id``. The
OLTP line is never duplicated. Publishing only after COMMIT costs the overlap of the broker's
acknowledgement with the WAL flush, but a message can never announce a suggestion that a lost
COMMIT then undid (a retry would store it again with another ``suggested_at``: two different
messages for one order, which the integration tests catch).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tillflow.domain.suggestions.events import ORDER_CREATED, BadEvent, parse_order_event
from tillflow.domain.suggestions.events import suggestion_message as build_message
from tillflow.domain.suggestions.rule import Order, Suggestion, decide
from tillflow.jobs.suggestions.cache import SuggestionCache
from tillflow.jobs.suggestions.store import Stored, SuggestionStore

if TYPE_CHECKING:
    from confluent_kafka import Message, Producer

log = logging.getLogger(__name__)

#: How often the engine marks acknowledged suggestions published (one UPDATE per interval).
MARK_EVERY_S = 1.0


@dataclass
class Counters:
    events: int = 0
    orders: int = 0
    ignored: int = 0
    bad: int = 0
    qualifying: int = 0
    stored: int = 0
    published: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class BatchResult:
    suggestions: list[Suggestion] = field(default_factory=list)
    published: list[Stored] = field(default_factory=list)
    #: order id -> time.time() of the broker's acknowledgement of its suggestion
    acked_at: dict[int, float] = field(default_factory=dict)
    #: time.time() of the OLTP commit (0 when nothing was stored)
    stored_at: float = 0.0


class SuggestionEngine:
    """Decides, stores and publishes for the service (the DAG's sensor path shares ``publish``)."""

    def __init__(
        self,
        cache: SuggestionCache,
        store: SuggestionStore,
        producer: Producer,
        topic: str,
    ) -> None:
        self.cache = cache
        self.store = store
        self.producer = producer
        self.topic = topic
        self.counters = Counters()
        self._unmarked: list[int] = []
        self._marked_at = time.monotonic()

    def orders_of(self, messages: Sequence[Message]) -> list[Order]:
        """The ``order_created`` orders among the messages (other event types are ignored)."""
        orders: list[Order] = []
        for message in messages:
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            self.counters.events += 1
            try:
                parsed = parse_order_event(message.value())
            except BadEvent as exc:
                self.counters.bad += 1
                log.warning(
                    "bad order event at %s[%s]@%s: %s",
                    message.topic(), message.partition(), message.offset(), exc,
                )  # fmt: skip
                continue
            if parsed is None or parsed[0] != ORDER_CREATED:
                self.counters.ignored += 1  # suggestion_added, deletes, tombstones
                continue
            orders.append(parsed[1])
        return orders

    def decide(self, orders: Sequence[Order]) -> list[Suggestion]:
        if not orders:
            return []
        facts = self.cache.facts_many(orders)
        suggestions = [s for o, f in zip(orders, facts, strict=True) if (s := decide(o, f))]
        self.counters.orders += len(orders)
        self.counters.qualifying += len(suggestions)
        return suggestions

    def store_and_publish(self, suggestions: Sequence[Suggestion]) -> BatchResult:
        """Steps 2-4 for the suggestions ``decide`` returned (on the service's writer thread)."""
        result = BatchResult(suggestions=list(suggestions))
        if not result.suggestions:
            self.mark_published()
            return result
        stored = self.store.apply(result.suggestions)
        result.stored_at = time.time()
        self.counters.stored += len(stored)
        result.published = stored
        try:
            result.acked_at = send(self.producer, self.topic, stored)
        except Undelivered as exc:
            self.counters.published += len(exc.acked)
            self._unmarked.extend(exc.acked)
            self.mark_published(force=True)
            raise
        self.counters.published += len(result.acked_at)
        self._unmarked.extend(result.acked_at)
        self.mark_published()
        return result

    @property
    def has_unmarked(self) -> bool:
        """Acknowledged suggestions not yet recorded as published."""
        return bool(self._unmarked)

    def mark_published(self, force: bool = False) -> None:
        """Record the acknowledged suggestions as published, at most every ``MARK_EVERY_S``
        unless ``force``: one UPDATE for many orders, off the per-order path. A mark lost to a
        crash only means a re-publish of the same message on redelivery (consumers deduplicate
        on the key), never a second line."""
        if not self._unmarked:
            return
        now = time.monotonic()
        if not force and now - self._marked_at < MARK_EVERY_S:
            return
        ids = sorted(set(self._unmarked))
        self.store.mark_published(ids)
        self._unmarked.clear()
        self._marked_at = now


class _Delivery:
    """Delivery callback: acknowledgement times per order id, and failures."""

    def __init__(self) -> None:
        self.acked: dict[int, float] = {}
        self.failed: list[str] = []

    def __call__(self, err: Any, msg: Message) -> None:
        order_id = int(msg.key() or b"0")
        if err is not None:
            self.failed.append(f"{order_id}: {err}")
            return
        self.acked[order_id] = time.time()


def _key(item: Stored) -> bytes:
    return str(item.suggestion.order_id).encode()


def _value(item: Stored) -> bytes:
    value = build_message(item.suggestion, item.line_no, item.suggested_at, item.source)
    return json.dumps(value, separators=(",", ":")).encode()


class Undelivered(RuntimeError):
    """Some suggestions were not acknowledged by the broker; ``acked`` holds those that were."""

    def __init__(self, failed: list[str], remaining: int, acked: dict[int, float]) -> None:
        super().__init__(f"{len(failed) + remaining} suggestion(s) not acknowledged: {failed[:3]}")
        self.acked = acked


def send(
    producer: Producer,
    topic: str,
    stored: Sequence[Stored],
) -> dict[int, float]:
    """Produce stored suggestions and wait for the acknowledgements; return order id ->
    acknowledgement time. Raises ``Undelivered`` if any was not acknowledged."""
    if not stored:
        return {}
    delivery = _Delivery()
    for item in stored:
        producer.produce(topic, key=_key(item), value=_value(item), on_delivery=delivery)
    remaining = producer.flush(30)
    if delivery.failed or remaining:
        raise Undelivered(delivery.failed, remaining, delivery.acked)
    return delivery.acked


def publish(
    producer: Producer,
    topic: str,
    store: SuggestionStore,
    stored: Sequence[Stored],
) -> dict[int, float]:
    """``send``, then mark the acknowledged ones published at once (the DAG's path)."""
    try:
        acked = send(producer, topic, stored)
    except Undelivered as exc:
        store.mark_published(sorted(exc.acked))
        raise
    store.mark_published(sorted(acked))
    return acked
