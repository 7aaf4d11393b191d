"""The suggestion service: a long-running consumer of order events (``python -m`` this module).

Start-up: apply the OLTP migrations (as the orders API does), load the Redis caches from OLTP,
start the cache updater (a thread consuming the CDC topics of item_master, customers and
payment_methods), then consume ``oltp.public.order_events``.

Kafka: both consumers use ``assign()`` (no group join to wait for; docs/environment.md) at the offsets
committed under their group id (earliest when none). The order consumer fetches with
``fetch.wait.max.ms = 2`` -- measured here: 1.6 ms p50 / 4.1 ms p99 broker-to-consumer vs 6.8 ms
p99 with the default 10 ms; the cache feed, idle nearly always, with 100 ms (its cost to the
broker while idle is about an eighth; ``kafka_profiles.CACHE_FEED_CONSUMER``). Both park after
``--park-after`` seconds without a record (``parking.py``): a 500 ms wait that costs the broker
almost nothing, left on the first record that arrives. The order
loop takes one message with ``poll`` and drains what is already fetched with ``consume(n, 0)``,
so a lone order is processed at once and a burst in batches (up to ``--batch-size``). The loop
decides a batch (parse, Redis) while a writer thread stores and publishes the previous one
(``pipeline.py``). A batch's suggestions are published only after their OLTP COMMIT, and its
own offsets (never the consumer's position, see ``kafka.next_offsets``) are committed once it is
published; acknowledged suggestions are marked published in one UPDATE per second or when idle.
After a failing batch (database or Redis down) every partition is rewound to its first offset
not done, and consumption resumes after a pause.

A new broker incarnation (the memory broker restarted: another cluster id, checked every 2 s)
ends the service once what it decided is stored, with exit status 75; the supervisor starts it
again, at the new broker's first offsets.

Health: a heartbeat file (JSON: state, counters) rewritten every second; the stack's
``suggestions`` service is healthy while it is fresh.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tillflow import config
from tillflow.adapters import kafka
from tillflow.adapters import kafka_profiles as profiles
from tillflow.config import KafkaConnection, Settings
from tillflow.domain.suggestions.events import BadEvent, Change, parse_change
from tillflow.jobs.suggestions.cache import CDC_TABLES, DEFAULT_PREFIX, SuggestionCache
from tillflow.jobs.suggestions.engine import BatchResult, SuggestionEngine
from tillflow.jobs.suggestions.parking import ParkingConsumer
from tillflow.jobs.suggestions.pipeline import Batch, BatchWriter, rewind_points
from tillflow.jobs.suggestions.store import SuggestionStore

if TYPE_CHECKING:
    from confluent_kafka import Consumer, TopicPartition

log = logging.getLogger("tillflow.jobs.suggestions")

#: The exit status after a new broker incarnation (EX_TEMPFAIL): the supervisor starts the
#: service again, and `tillflow status` shows the restart with its reason.
NEW_BROKER_EXIT = 75


@dataclass(frozen=True)
class ServiceConfig:
    kafka: KafkaConnection
    redis_host: str
    redis_port: int
    oltp_dsn: str
    orders_topic: str = config.TOPICS.orders
    suggestions_topic: str = config.TOPICS.suggestions_accepted
    cdc_topics: dict[str, str] = field(
        default_factory=lambda: {t: config.TOPICS.cdc(t) for t in CDC_TABLES}
    )
    group_id: str = "tillflow-suggestions"
    prefix: str = DEFAULT_PREFIX
    batch_size: int = 1000
    heartbeat_file: Path | None = None
    latency_log: Path | None = None
    migrate: bool = True
    #: Seconds without a record before a consumer parks on the long fetch wait (0: never).
    park_after: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceConfig:
        pg = settings.postgres
        return cls(
            kafka=settings.kafka.connection,
            redis_host=settings.redis.host,
            redis_port=settings.redis.port,
            oltp_dsn=pg.dsn(config.DB_OLTP, pg.api),
            heartbeat_file=settings.run_dir / "suggestions.heartbeat",
        )


class Heartbeat:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.state = "starting"
        self._last = 0.0

    def beat(self, counters: dict[str, Any] | None = None, force: bool = False) -> None:
        now = time.time()
        if self.path is None or (not force and now - self._last < 1.0):
            return
        self._last = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {"ts": now, "pid": os.getpid(), "state": self.state, **(counters or {})}
        tmp.write_text(json.dumps(body))
        tmp.replace(self.path)


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body


def parking_consumer(cfg: ServiceConfig, group: str, awake: profiles.Profile) -> ParkingConsumer:
    """Two clients of ``group``: ``awake`` under traffic, ``PARKED_CONSUMER`` while idle."""
    return ParkingConsumer(
        kafka.consumer(cfg.kafka, group, awake),
        kafka.consumer(cfg.kafka, group, profiles.PARKED_CONSUMER),
        cfg.park_after,
    )


def _partitions(
    consumer: Consumer | ParkingConsumer, topics: Sequence[str]
) -> list[TopicPartition]:
    from confluent_kafka import TopicPartition

    meta = consumer.list_topics(timeout=10)
    parts: list[TopicPartition] = []
    for topic in topics:
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None:
            continue
        parts.extend(TopicPartition(topic, p) for p in sorted(tmeta.partitions))
    return parts


def assign_committed(
    consumer: Consumer | ParkingConsumer,
    topics: Sequence[str],
    ends: Mapping[tuple[str, int], int] | None = None,
) -> list[str]:
    """Assign every partition of the existing ``topics`` at the group's committed offsets
    (earliest where none); return the topics assigned. A committed offset past its partition's
    end (``ends``) starts at the beginning too: a run that was still reading an earlier broker
    may have committed it to this one, and fetched there this broker answers nothing until the
    partition reaches it, then skips what came before."""
    from confluent_kafka import OFFSET_BEGINNING

    parts = _partitions(consumer, topics)
    if not parts:
        consumer.assign([])
        return []
    committed = consumer.committed(parts, timeout=10)
    for tp in committed:
        end = (ends or {}).get((tp.topic, tp.partition))
        if tp.offset < 0 or (end is not None and tp.offset > end):
            tp.offset = OFFSET_BEGINNING
    consumer.assign(committed)
    return sorted({tp.topic for tp in committed})


class CacheUpdater(threading.Thread):
    """Keeps the Redis caches fresh from the CDC topics (its own consumer and Redis client)."""

    def __init__(self, cfg: ServiceConfig, stop: threading.Event) -> None:
        super().__init__(name="cache-updater", daemon=True)
        self.cfg = cfg
        self.stop_event = stop
        self.applied = 0
        self.bad = 0
        self.error: BaseException | None = None
        self.topic_table = {topic: table for table, topic in cfg.cdc_topics.items()}
        self.consumer: ParkingConsumer | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the main loop
            self.error = exc
            log.exception("cache updater failed")

    def _run(self) -> None:
        cache = SuggestionCache.connect(
            self.cfg.redis_host, self.cfg.redis_port, self.cfg.oltp_dsn, self.cfg.prefix
        )
        consumer = parking_consumer(
            self.cfg, f"{self.cfg.group_id}-cache", profiles.CACHE_FEED_CONSUMER
        )
        self.consumer = consumer
        wanted = list(self.topic_table)
        assigned: list[str] = []
        checked = 0.0
        try:
            while not self.stop_event.is_set():
                if len(assigned) < len(wanted) and time.monotonic() - checked > 10:
                    checked = time.monotonic()
                    assigned = assign_committed(
                        consumer, wanted, kafka.end_offsets(self.cfg.kafka, wanted)
                    )
                    missing = sorted(set(wanted) - set(assigned))
                    if missing:
                        log.info("cache updater: waiting for CDC topics %s", missing)
                # A record returns at once either way; parked, the loop just wakes less often.
                first = consumer.poll(0.5 if consumer.parked else 0.2)
                if first is None:
                    consumer.maybe_park(idle_allowed=True)
                    continue
                messages = [first, *consumer.consume(5000, 0)]
                changes: list[tuple[str, Change]] = []
                for msg in messages:
                    if msg.error():
                        continue
                    try:
                        change = parse_change(msg.value())
                    except BadEvent as exc:
                        self.bad += 1
                        log.warning("bad CDC event on %s: %s", msg.topic(), exc)
                        continue
                    if change is not None:
                        changes.append((self.topic_table[msg.topic() or ""], change))
                try:
                    self.applied += cache.apply_changes(changes)
                except (KeyError, TypeError, ValueError) as exc:
                    self.bad += 1
                    log.warning("CDC batch not applicable (%s); applying one by one", exc)
                    for item in changes:
                        with contextlib.suppress(KeyError, TypeError, ValueError):
                            self.applied += cache.apply_changes([item])
                offsets = kafka.next_offsets(messages)
                if offsets:
                    consumer.commit(offsets=offsets, asynchronous=True)
        finally:
            with contextlib.suppress(Exception):
                consumer.close()
            cache.close()


class SuggestionService:
    """The order loop (see the module docstring)."""

    def __init__(self, cfg: ServiceConfig) -> None:
        self.cfg = cfg
        self.stop_event = threading.Event()
        self.heartbeat = Heartbeat(cfg.heartbeat_file)
        self.cache = SuggestionCache.connect(
            cfg.redis_host, cfg.redis_port, cfg.oltp_dsn, cfg.prefix
        )
        self.store = SuggestionStore(cfg.oltp_dsn, source="service")
        self.producer = kafka.producer(cfg.kafka, profiles.LOW_LATENCY_PRODUCER)
        self._latency: IO[str] | None = None
        self.engine = SuggestionEngine(self.cache, self.store, self.producer, cfg.suggestions_topic)
        self.updater = CacheUpdater(cfg, self.stop_event)
        self.orders: ParkingConsumer | None = None
        #: A new broker incarnation (a restart of the memory broker) since the start: its
        #: partitions begin at offset 0 and hold no committed offsets (see ``run``).
        self.broker = kafka.IncarnationWatch(self.producer)
        self.new_broker = False

    def counters(self) -> dict[str, Any]:
        feed = self.updater.consumer
        return {**self.engine.counters.as_dict(), "cdc_applied": self.updater.applied,
                "cache_misses": self.cache.misses,
                "orders_fetch": self.orders.state if self.orders else "starting",
                "orders_parks": self.orders.parks if self.orders else 0,
                "cache_feed_fetch": feed.state if feed else "starting"}  # fmt: skip

    def _wait(self, what: str, check: Any, pause: float = 2.0) -> bool:
        """Retry ``check()`` until it is true (heartbeat meanwhile); False when stopped."""
        self.heartbeat.state = f"waiting: {what}"
        logged = False
        while not self.stop_event.is_set():
            try:
                if check():
                    return True
            except Exception as exc:
                if not logged:
                    log.warning("waiting for %s: %s", what, exc)
                    logged = True
            self.heartbeat.beat(force=True)
            self.stop_event.wait(pause)
        return False

    def start(self) -> bool:
        """Everything before the loop; False when stopped while waiting."""
        self.heartbeat.beat(force=True)
        if self.cfg.migrate:
            from tillflow.adapters.migrations import migrate

            if not self._wait(
                "OLTP migrations", lambda: migrate(self.cfg.oltp_dsn, "oltp") or True
            ):
                return False
        if not self._wait("OLTP tables", self.store.ready):
            return False
        if not self._wait(
            "Kafka", lambda: kafka.ensure_topics(self.cfg.kafka, [self.cfg.suggestions_topic])
            is not None,
        ):  # fmt: skip
            return False

        def load() -> bool:
            self.heartbeat.state = "loading caches"
            self.heartbeat.beat(force=True)
            stats = self.cache.load()
            log.info(
                "caches loaded: %d products, %d customers (%d diamond), %d payment methods "
                "(%d ACB transfers) in %.2fs",
                stats.products, stats.customers, stats.diamond, stats.payment_methods,
                stats.acb, stats.seconds,
            )  # fmt: skip
            return True

        if not self._wait("Redis and OLTP for the cache load", load):
            return False
        if self.cfg.latency_log is not None:
            self._latency = open(self.cfg.latency_log, "a", buffering=1 << 16)  # noqa: SIM115
        self.updater.start()
        return True

    def run(self) -> int:
        if not self.start():
            return 0
        consumer = parking_consumer(self.cfg, self.cfg.group_id, profiles.LOW_LATENCY_CONSUMER)
        self.orders = consumer
        topic = self.cfg.orders_topic
        self.broker.changed()  # the incarnation this run reads, before its first offsets
        if not self._wait(
            f"topic {topic}",
            lambda: assign_committed(consumer, [topic], kafka.end_offsets(self.cfg.kafka, [topic])),
        ):
            consumer.close()
            return 0
        self.heartbeat.state = "running"
        # Everything loaded so far (modules, clients) moves out of the collector's reach: a
        # full collection then scans only what the loop allocates (no multi-ms pauses).
        gc.collect()
        gc.freeze()
        log.info("consuming %s -> %s", topic, self.cfg.suggestions_topic)
        writer = BatchWriter(self.engine, self._log_latency)
        writer.start()
        in_flight: deque[Batch] = deque()  # handed to the writer, offsets not committed yet
        last_log = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if self.updater.error is not None:
                    raise RuntimeError("cache updater died") from self.updater.error
                # The oldest batch still in the writer's hands: a writer stuck on its database
                # or broker leaves it growing while this loop (and the heartbeat) goes on.
                stuck = time.time() - in_flight[0].consumed_at if in_flight else 0.0
                self.heartbeat.beat({**self.counters(), "oldest_in_flight_s": round(stuck, 1)})
                if time.monotonic() - last_log > 30:
                    last_log = time.monotonic()
                    log.info("counters %s", self.counters())
                if self.broker.changed():
                    # The consumers' positions are the old broker's offsets: fetching at them
                    # would skip the new one's first records (it answers a fetch past its end
                    # with nothing, not an error). The service ends once what it decided is
                    # stored, and the supervisor starts it again at the new broker's start;
                    # the ledger keeps every order decided at most once.
                    log.warning(
                        "the broker is a new incarnation (%s, was %s): stopping, to be started"
                        " again at its first offsets",
                        self.broker.now, self.broker.first,
                    )  # fmt: skip
                    self.new_broker = True
                    break
                self._commit_done(consumer, writer, in_flight)
                if writer.failed is not None:
                    self._rewind(consumer, writer, in_flight)
                    continue
                first = consumer.poll(0.5 if consumer.parked else 0.1)
                if first is None:
                    consumer.maybe_park(idle_allowed=not in_flight)
                    continue
                consumed_at = time.time()
                messages = [first, *consumer.consume(self.cfg.batch_size - 1, 0)]
                try:
                    suggestions = self.engine.decide(self.engine.orders_of(messages))
                except Exception:
                    log.exception("deciding a batch of %d events failed", len(messages))
                    self._rewind(consumer, writer, in_flight, Batch.of(messages, []))
                    continue
                batch = Batch.of(messages, suggestions, consumed_at)
                in_flight.append(batch)
                writer.submit(batch)
        finally:
            self.heartbeat.state = "stopping"
            self.heartbeat.beat(self.counters(), force=True)
            self.stop_event.set()
            writer.finish()
            with contextlib.suppress(Exception):
                if not self.new_broker:  # old offsets committed to a new broker would skip
                    self._commit_done(consumer, writer, in_flight, asynchronous=False)
                consumer.close()
            self.updater.join(timeout=5)
            self.producer.flush(10)
            if self._latency is not None:
                self._latency.close()
            self.store.close()
            self.cache.close()
            log.info("stopped; counters %s", self.counters())
        return NEW_BROKER_EXIT if self.new_broker else 0

    def _log_latency(self, batch: Batch, result: BatchResult) -> None:
        """One line per published suggestion: order id, then the time.time() of the broker's
        acknowledgement, of the order's consumption, of the decision and of the OLTP commit."""
        if self._latency is None or not result.acked_at:
            return
        stages = f"{batch.consumed_at:.6f} {batch.decided_at:.6f} {result.stored_at:.6f}"
        for order_id, acked_at in result.acked_at.items():
            self._latency.write(f"{order_id} {acked_at:.6f} {stages}\n")
        self._latency.flush()

    @staticmethod
    def _commit_done(
        consumer: ParkingConsumer,
        writer: BatchWriter,
        in_flight: deque[Batch],
        asynchronous: bool = True,
    ) -> None:
        """Commit the offsets of the batches the writer finished (they finish in order)."""
        while True:
            try:
                batch = writer.done.get_nowait()
            except queue.Empty:
                return
            if in_flight and in_flight[0] is batch:
                in_flight.popleft()
            if batch.commit and asynchronous:
                consumer.commit(offsets=batch.commit, asynchronous=True)
            elif batch.commit:
                consumer.commit(offsets=batch.commit, asynchronous=False)

    def _rewind(
        self,
        consumer: ParkingConsumer,
        writer: BatchWriter,
        in_flight: deque[Batch],
        current: Batch | None = None,
    ) -> None:
        """After a failure (database or Redis down): let the writer drop what it holds, rewind
        every partition to its first offset not done, and retry after a pause."""
        from confluent_kafka import TopicPartition

        writer.settle()
        self._commit_done(consumer, writer, in_flight)
        pending = [*in_flight, *([current] if current is not None else [])]
        for (t, p), offset in rewind_points(pending).items():
            with contextlib.suppress(Exception):
                consumer.seek(TopicPartition(t, p, offset))
        log.warning("rewound %d batch(es); retrying in 1s", len(pending))
        in_flight.clear()
        self.stop_event.wait(1.0)
        writer.resume()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tillflow.jobs.suggestions.consumer", description=__doc__.split("\n")[0]
    )
    p.add_argument("--orders-topic", default=config.TOPICS.orders)
    p.add_argument("--suggestions-topic", default=config.TOPICS.suggestions_accepted)
    p.add_argument(
        "--cdc-prefix",
        default=config.TOPICS.cdc_prefix,
        help="CDC topics are <prefix>.public.<table> (default: %(default)s)",
    )
    p.add_argument("--group", default="tillflow-suggestions", help="consumer group id")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="Redis key prefix")
    p.add_argument("--oltp-dsn", default=None, help="default: the OLTP database as tillflow_api")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--heartbeat", type=Path, default=None, help="heartbeat file (JSON)")
    p.add_argument(
        "--latency-log",
        type=Path,
        default=None,
        help="append 'order_id acked_at consumed_at decided_at stored_at' per suggestion",
    )
    p.add_argument(
        "--park-after",
        type=float,
        default=ServiceConfig.park_after,
        help="seconds without a record before a consumer parks on a 500 ms fetch wait, which "
        "costs the broker almost nothing; 0: never (default: %(default)s)",
    )
    p.add_argument("--no-migrate", action="store_true")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    base = ServiceConfig.from_settings(Settings.from_env())
    cfg = replace(
        base,
        orders_topic=args.orders_topic,
        suggestions_topic=args.suggestions_topic,
        cdc_topics={t: f"{args.cdc_prefix}.public.{t}" for t in CDC_TABLES},
        group_id=args.group,
        prefix=args.prefix,
        oltp_dsn=args.oltp_dsn or base.oltp_dsn,
        batch_size=args.batch_size,
        heartbeat_file=args.heartbeat,
        latency_log=args.latency_log,
        migrate=not args.no_migrate,
        park_after=args.park_after,
    )
    service = SuggestionService(cfg)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        service.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return service.run()


if __name__ == "__main__":
    sys.exit(main())
