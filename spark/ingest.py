"""The ingestion job: Kafka topics → raw tables, exactly once, as a Spark Structured Streaming query.

    source (tillflow_kafka, or the native kafka format)            one task per Kafka partition
      → mapInArrow(Lander): parse + validate + COPY + commit log   in the executors, per chunk
      → foreachBatch: one summary row per chunk → ops.ingest_batches
    + a StreamingQueryListener: lag per partition, phase durations → ops.ingest_batches

Engines: ``fused`` lands inside the source's read tasks (the records never cross into the JVM);
``tail`` (the continuous mode's default) lands in the source's driver-side ``read`` from a
consumer kept at the tail, for freshness (``spark.kafka_source.KafkaTailReader``); ``python``
hands records to Spark and lands them in ``mapInArrow``; ``native`` is the Kafka connector jar.

Triggers: ``continuous`` (processing time, default 1 s) and ``available-now`` (catch up, then stop).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tillflow.config import Settings
from tillflow.jobs.ingest.jobargs import add_arguments, default_topics, parse_topics

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from tillflow.jobs.ingest.sink import Sink

log = logging.getLogger("tillflow.spark.ingest")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUMMARY_SCHEMA = (
    "topic string, partition int, records long, landed long, dead long, skipped long, "
    "end_offset long, parse_ms double, land_ms double, read_ms double, task_ms double"
)


@dataclass(frozen=True)
class JobConfig:
    """Everything one ingestion query needs (picklable: it travels to the executors)."""

    job: str
    topics: tuple[str, ...]
    bootstrap: str
    dsn: str
    checkpoint: str
    mode: str = "continuous"
    trigger_seconds: float = 1.0
    engine: str = "python"
    sink_mode: str = "merge"
    kinds: dict[str, str] = field(default_factory=dict)
    max_offsets_per_trigger: int | None = None
    starting_offsets: str = "earliest"
    chunk_rows: int = 200_000
    max_age_days: float = 400.0
    max_future_minutes: float = 5.0

    @property
    def stream(self) -> str:
        """This query's name in the progress table: its checkpoint's folder (jobs that share a
        commit log, the catch-up and the continuous one, keep their own batch counts)."""
        return Path(self.checkpoint.rstrip("/")).name

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobConfig:
        data = json.loads(text)
        data["topics"] = tuple(data["topics"])
        return cls(**data)


def default_checkpoint(settings: Settings, job: str) -> Path:
    return settings.home / "spark" / "checkpoints" / job


# --- executors: parse, validate, land ------------------------------------------------------------
_SINKS: dict[tuple[str, str, str], Sink] = {}


class Lander:
    """The ``mapInArrow`` function: land Kafka records chunk by chunk, yield one summary each."""

    def __init__(self, cfg: JobConfig) -> None:
        self.cfg = cfg

    def _sink(self) -> Sink:
        from tillflow.jobs.ingest.sink import Sink

        key = (self.cfg.dsn, self.cfg.job, self.cfg.sink_mode)
        sink = _SINKS.get(key)
        if sink is None:
            sink = Sink(self.cfg.dsn, self.cfg.job, self.cfg.sink_mode)
            _SINKS[key] = sink
        return sink

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        from tillflow.domain.events.records import TimeWindow

        started = time.perf_counter()
        window = TimeWindow.current(self.cfg.max_age_days, self.cfg.max_future_minutes)
        pending: list[pa.RecordBatch] = []
        rows = 0
        read_s = 0.0  # time spent waiting for records (Kafka, or the JVM for the python engine)
        it = iter(batches)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            read_s += time.perf_counter() - t0
            if batch is None:
                break
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            rows += batch.num_rows
            if rows >= self.cfg.chunk_rows:
                yield self._land(pa.Table.from_batches(pending), window, read_s, started)
                pending, rows, read_s = [], 0, 0.0
        if pending:
            yield self._land(pa.Table.from_batches(pending), window, read_s, started)

    def _land(
        self, records: pa.Table, window: Any, read_s: float, started: float
    ) -> pa.RecordBatch:
        import pyarrow as pa

        from tillflow.jobs.ingest import pipeline

        # The native source may hand over a timestamp/partition type that differs: normalise.
        s = pipeline.process(self._sink(), records, window, self.cfg.kinds)
        ends = sorted(s.ends.items())
        n = max(1, len(ends))
        first = [1] + [0] * (n - 1)  # counts go on the first row only
        return pa.RecordBatch.from_pydict(
            {
                "topic": [t for (t, _), _ in ends] or [""],
                "partition": [p for (_, p), _ in ends] or [0],
                "records": [s.records * f for f in first],
                "landed": [s.landed * f for f in first],
                "dead": [s.dead_letters * f for f in first],
                "skipped": [s.skipped * f for f in first],
                "end_offset": [e for _, e in ends] or [0],
                "parse_ms": [s.parse_seconds * 1000 * f for f in first],
                "land_ms": [s.land_seconds * 1000 * f for f in first],
                "read_ms": [read_s * 1000 * f for f in first],
                "task_ms": [(time.perf_counter() - started) * 1000 * f for f in first],
            },
            schema=pa.schema(
                [
                    ("topic", pa.string()),
                    ("partition", pa.int32()),
                    ("records", pa.int64()),
                    ("landed", pa.int64()),
                    ("dead", pa.int64()),
                    ("skipped", pa.int64()),
                    ("end_offset", pa.int64()),
                    ("parse_ms", pa.float64()),
                    ("land_ms", pa.float64()),
                    ("read_ms", pa.float64()),
                    ("task_ms", pa.float64()),
                ]
            ),
        )


# --- the driver -----------------------------------------------------------------------------
def ensure_pythonpath() -> None:
    """Executors import ``spark.*`` and ``tillflow.*`` by name: put both roots on PYTHONPATH."""
    roots = [str(PROJECT_ROOT), str(PROJECT_ROOT / "include")]
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*roots, *current]))
    for root in reversed(roots):
        if root not in sys.path:
            sys.path.insert(0, root)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Python workers import pandas/pyarrow afresh: without bytecode caches that alone costs
    # seconds per worker (measured 4-13 s under load).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


#: With the fused and tail engines the JVM only plans micro-batches (the records are landed in
#: Python and never cross into it): the C1 compiler alone does, and C2 would take a quarter of a
#: core from the landing (measured: 1.5 s of C2 compilation in 6 s of catch-up; 136-167k scans/s
#: with it, 165-177k/s without). The native and python engines move the records through the JVM
#: and keep both compilers. The DAG's spark-submit passes the same flag.
C1_ONLY = "-XX:TieredStopAtLevel=1"
#: ``auto`` resolves to fused or tail unless the Kafka connector jar is on the classpath.
LIGHT_JVM_ENGINES = ("auto", "fused", "tail")


def session(
    master: str, app_name: str = "tillflow-ingest", light_jvm: bool = False
) -> SparkSession:
    from tillflow.adapters.spark import session as make_session

    ensure_pythonpath()
    return make_session(
        app_name,
        master,
        **{
            "spark.sql.execution.arrow.maxRecordsPerBatch": "200000",
            "spark.sql.streaming.metricsEnabled": "false",
            "spark.python.worker.reuse": "true",
            "spark.executorEnv.PYTHONPATH": os.environ["PYTHONPATH"],
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            # Small, frequent micro-batches: keep the per-batch bookkeeping cheap.
            "spark.sql.streaming.minBatchesToRetain": "20",
            "spark.sql.streaming.stateStore.maintenanceInterval": "600s",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.streaming.noDataMicroBatches.enabled": "false",
            "spark.driver.memory": "1g",
            **({"spark.driver.extraJavaOptions": C1_ONLY} if light_jvm else {}),
        },
    )


def native_kafka_available(spark: SparkSession) -> bool:
    try:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        jvm.java.lang.Class.forName("org.apache.spark.sql.kafka010.KafkaSourceProvider")
        return True
    except Exception:
        return False


def source(spark: SparkSession, cfg: JobConfig) -> tuple[DataFrame, str]:
    """The stream of Kafka records, and which engine reads it."""
    engine = cfg.engine
    if engine == "auto":
        if native_kafka_available(spark):
            engine = "native"
        else:  # the tail reader for freshness, the partitioned one to catch up
            engine = "tail" if cfg.mode == "continuous" else "fused"
    elif engine == "tail" and cfg.mode != "continuous":
        log.info("engine tail serves the continuous mode only: %s runs fused", cfg.mode)
        engine = "fused"
    reader = spark.readStream
    if engine == "native":
        from spark.kafka_source import offsets_json
        from tillflow.jobs.ingest.sink import committed_offsets

        committed = committed_offsets(cfg.dsn, cfg.job)
        starting = offsets_json(committed) if committed else cfg.starting_offsets
        reader = (
            reader.format("kafka")
            .option("kafka.bootstrap.servers", cfg.bootstrap)
            .option("subscribe", ",".join(cfg.topics))
            .option("startingOffsets", starting)
            .option("failOnDataLoss", "false")
            .option("kafka.fetch.max.wait.ms", "10")
        )
    else:
        from spark.kafka_source import KafkaDataSource

        spark.dataSource.register(KafkaDataSource)
        reader = (
            reader.format(KafkaDataSource.name())
            .option("kafka.bootstrap.servers", cfg.bootstrap)
            .option("subscribe", ",".join(cfg.topics))
            .option("startingOffsets", cfg.starting_offsets)
            .option("job", cfg.job)
            .option("dsn", cfg.dsn)
        )
        if engine in ("fused", "tail"):
            reader = reader.option("land", cfg.to_json())
        if engine == "tail":
            reader = reader.option("reader", "tail")
    if cfg.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.max_offsets_per_trigger))
    return reader.load(), engine


class BatchRecorder:
    """foreachBatch: run the batch (the landing happens in the executors) and log it."""

    def __init__(self, cfg: JobConfig, engine: str) -> None:
        self.cfg = cfg
        self.engine = engine
        self.totals = {"records": 0, "landed": 0, "dead": 0, "batches": 0}

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        from tillflow.jobs.ingest.sink import record_batch

        started = dt.datetime.now(dt.UTC)
        rows = df.collect()
        finished = dt.datetime.now(dt.UTC)
        records = sum(r["records"] for r in rows)
        landed = sum(r["landed"] for r in rows)
        dead = sum(r["dead"] for r in rows)
        ends: dict[str, dict[str, int]] = {}
        for r in rows:
            if r["topic"]:
                part = ends.setdefault(r["topic"], {})
                part[str(r["partition"])] = max(part.get(str(r["partition"]), 0), r["end_offset"])
        self.totals["records"] += records
        self.totals["landed"] += landed
        self.totals["dead"] += dead
        self.totals["batches"] += 1
        try:
            record_batch(
                self.cfg.dsn,
                self.cfg.job,
                self.cfg.stream,
                batch_id,
                landed,
                dead,
                started,
                finished,
                records,
                self.engine,
                ends,
            )
        except Exception:  # progress is best effort: the rows and commit log are already in
            log.warning("could not record batch %s's progress", batch_id, exc_info=True)
        log.info(
            "batch %s: %s records, %s landed, %s dead letters in %.0f ms"
            " (tasks, summed: read %.0f ms, parse %.0f ms, land %.0f ms, in all %.0f ms)",
            batch_id,
            records,
            landed,
            dead,
            (finished - started).total_seconds() * 1000,
            sum(r["read_ms"] for r in rows),
            sum(r["parse_ms"] for r in rows),
            sum(r["land_ms"] for r in rows),
            sum(r["task_ms"] for r in rows),
        )


def _offsets(value: Any) -> dict[str, Any]:
    """A progress offset (a JSON string, a dict, or nothing) as a dict."""
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def progress_listener(cfg: JobConfig) -> Any:
    from pyspark.sql.streaming import StreamingQueryListener

    from tillflow.jobs.ingest.sink import record_progress

    class Progress(StreamingQueryListener):
        def onQueryStarted(self, event: Any) -> None:
            pass

        def onQueryIdle(self, event: Any) -> None:
            pass

        def onQueryTerminated(self, event: Any) -> None:
            pass

        def onQueryProgress(self, event: Any) -> None:
            p = event.progress
            try:
                lag: dict[str, int] = {}
                for src in p.sources:
                    end = _offsets(src.endOffset)
                    latest = _offsets(src.latestOffset)
                    for topic, parts in (latest or {}).items():
                        for part, tail in parts.items():
                            done = int((end or {}).get(topic, {}).get(part, tail))
                            lag[f"{topic}:{part}"] = max(0, int(tail) - done)
                record_progress(cfg.dsn, cfg.job, cfg.stream, p.batchId, lag, dict(p.durationMs))
            except Exception:  # progress is best effort; the data path never depends on it
                log.warning("could not record progress", exc_info=True)

    return Progress()


def start(spark: SparkSession, cfg: JobConfig) -> tuple[StreamingQuery, BatchRecorder]:
    records, engine = source(spark, cfg)
    landed = (
        records if engine in ("fused", "tail") else records.mapInArrow(Lander(cfg), SUMMARY_SCHEMA)
    )
    recorder = BatchRecorder(cfg, engine)
    writer = (
        landed.writeStream.queryName(cfg.job)
        .foreachBatch(recorder)
        .option("checkpointLocation", cfg.checkpoint)
    )
    if cfg.mode == "available-now":
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{int(cfg.trigger_seconds * 1000)} milliseconds")
    return writer.start(), recorder


def run(cfg: JobConfig, master: str, max_restarts: int = 20) -> dict[str, int]:
    """Run the query; in continuous mode restart it (from the checkpoint and the commit log)
    after a failure, e.g. a database that stayed away longer than the sink's retries."""
    spark = session(master, light_jvm=cfg.engine in LIGHT_JVM_ENGINES)
    spark.streams.addListener(progress_listener(cfg))
    restarts = 0
    totals = {"records": 0, "landed": 0, "dead": 0, "batches": 0}
    try:
        while True:
            query, recorder = start(spark, cfg)
            ready = os.environ.get("TILLFLOW_INGEST_READY_FILE")
            if ready:  # the stack's health check: this process's query is running
                Path(ready).write_text(f"{os.getpid()}\n")
            log.info("query %s started (%s, engine %s)", cfg.job, cfg.mode, recorder.engine)
            try:
                query.awaitTermination()
                for k in totals:
                    totals[k] += recorder.totals[k]
                return totals
            except KeyboardInterrupt:
                query.stop()
                raise
            except Exception as exc:
                for k in totals:
                    totals[k] += recorder.totals[k]
                restarts += 1
                if cfg.mode != "continuous" or restarts > max_restarts:
                    raise
                log.error("query failed (%s); restart %d in 2 s", str(exc)[:300], restarts)
                time.sleep(2)
    finally:
        spark.stop()


# --- command line (spark-submit spark/ingest_job.py, or tillflow ingest) -----------------------
def config_from_args(args: argparse.Namespace, settings: Settings) -> JobConfig:
    topics, kinds = parse_topics(args.topics or default_topics())
    return JobConfig(
        job=args.job,
        topics=topics,
        bootstrap=args.bootstrap or settings.kafka.bootstrap,
        dsn=settings.postgres.dsn(args.database, settings.postgres.ingest),
        checkpoint=str(args.checkpoint or default_checkpoint(settings, args.job)),
        mode=args.mode,
        trigger_seconds=args.trigger_seconds,
        engine=args.engine,
        sink_mode=args.sink_mode,
        kinds=kinds,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        starting_offsets=args.starting_offsets,
        max_age_days=args.max_age_days,
        max_future_minutes=args.max_future_minutes,
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("py4j", "py4j.clientserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="ingest_job", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    cfg = config_from_args(args, settings)
    from tillflow.jobs.ingest import checkpoints

    try:
        with checkpoints.hold(cfg.checkpoint):
            # Topics that do not exist yet are picked up once they do (partitions are re-listed).
            totals = run(cfg, args.master or settings.spark_master)
    except checkpoints.CheckpointBusy as exc:
        log.error("%s", exc)
        return 3
    print(json.dumps({"job": cfg.job, "mode": cfg.mode, **totals}))
    return 0
