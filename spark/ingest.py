"""The ingestion job: Kafka topics → raw tables, exactly once, as a Spark Structured Streaming query.

    source (tillflow_kafka, or the native kafka format)            one task per Kafka partition
      → mapInArrow(Lander): parse + validate + COPY + commit log   in the executors, per chunk
      → foreachBatch: one summary row per chunk → ops.ingest_batches
    + a StreamingQueryListener: lag per partition, phase durations → ops.ingest_batches

Engines: ``fused`` lands inside the source's read tasks (the records never cross into the JVM);
``tail`` (the continuous mode's default) lands in the source's driver-side ``read`` from a
consumer kept at the tail, for freshness (``spark.kafka_source.KafkaTailReader``); ``python``
hands records to Spark and lands them in ``mapInArrow``; ``native`` is the Kafka connector jar.

This module wires the query (session, source, sink, trigger): ``spark.kafka_source`` only reads
Kafka, ``spark.landing`` only lands (``LandingKafkaSource`` hands the one to the other).

Triggers: ``continuous`` (processing time, default 1 s) and ``available-now`` (catch up, then stop).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spark.job_config import JobConfig
from spark.kafka_options import native_options, source_options
from spark.kafka_source import KafkaDataSource, Landing, offsets_json
from spark.landing import SUMMARY_SCHEMA, BatchRecorder, Lander, progress_listener, summary_schema
from tillflow.config import Settings, SparkSettings
from tillflow.domain.events.coordinates import EPOCH_SHIFT
from tillflow.jobs.ingest.jobargs import add_arguments, default_topics, parse_topics

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery
    from pyspark.sql.types import StructType

log = logging.getLogger("tillflow.spark.ingest")


class LandingKafkaSource(KafkaDataSource):
    """``tillflow_kafka`` whose reads land their records (the fused and tail engines): the
    reader reads, ``spark.landing.Lander`` lands, in the same task."""

    def landing(self, land: str) -> Landing:
        return Lander(JobConfig.from_json(land))

    def landed_schema(self) -> StructType:
        return summary_schema()


def default_checkpoint(settings: Settings, job: str) -> Path:
    return settings.home / "spark" / "checkpoints" / job


# --- the driver -----------------------------------------------------------------------------
def worker_env() -> None:
    """The Python workers run this interpreter and import ``spark.*`` and ``tillflow.*`` by name:
    locally both are installed packages of the project (pyproject.toml), so no path is set here;
    on a cluster the session ships them (``tillflow.adapters.spark.ship_code``)."""
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
    spark: SparkSettings, app_name: str = "tillflow-ingest", light_jvm: bool = False
) -> SparkSession:
    from tillflow.adapters.spark import session as make_session

    worker_env()
    return make_session(
        app_name,
        spark,
        **{
            "spark.sql.execution.arrow.maxRecordsPerBatch": "200000",
            "spark.sql.streaming.metricsEnabled": "false",
            "spark.python.worker.reuse": "true",
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
        from tillflow.jobs.ingest.sink import committed_offsets

        committed = committed_offsets(cfg.dsn, cfg.job)
        if any(o >> EPOCH_SHIFT for o in committed.values()):
            # The native connector knows broker offsets only; the commit log holds virtual ones
            # (tillflow.domain.events.coordinates) once a broker restarted empty.
            raise SystemExit(
                f"job {cfg.job}: the commit log is past a broker restart (epoch > 0), which the"
                " native Kafka connector cannot follow; run it with --engine fused"
            )
        starting = offsets_json(committed) if committed else cfg.starting_offsets
        reader = (
            reader.format("kafka")
            .options(**native_options(cfg.kafka))
            .option("subscribe", ",".join(cfg.topics))
            .option("startingOffsets", starting)
            .option("failOnDataLoss", "false")
            .option("kafka.fetch.max.wait.ms", "10")
        )
    else:
        spark.dataSource.register(LandingKafkaSource)
        reader = (
            reader.format(LandingKafkaSource.name())
            .options(**source_options(cfg.kafka))
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


def run(cfg: JobConfig, spark_settings: SparkSettings, max_restarts: int = 20) -> dict[str, int]:
    """Run the query; in continuous mode restart it (from the checkpoint and the commit log)
    after a failure, e.g. a database that stayed away longer than the sink's retries."""
    spark = session(spark_settings, light_jvm=cfg.engine in LIGHT_JVM_ENGINES)
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
    kafka = settings.kafka.connection
    if args.bootstrap:
        kafka = dataclasses.replace(kafka, bootstrap=args.bootstrap)
    return JobConfig(
        job=args.job,
        topics=topics,
        kafka=kafka,
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
            spark = settings.spark
            if args.master:
                spark = dataclasses.replace(spark, master=args.master)
            totals = run(cfg, spark)
    except checkpoints.CheckpointBusy as exc:
        log.error("%s", exc)
        return 3
    print(json.dumps({"job": cfg.job, "mode": cfg.mode, **totals}))
    return 0
