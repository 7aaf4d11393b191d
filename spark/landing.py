"""The landing side of the ingestion job: what lands Kafka records in the warehouse.

- ``Lander``: parse, validate, COPY and the commit log, chunk by chunk, one summary row per
  chunk. The python engine runs it in ``mapInArrow``; the fused and tail engines inside the
  source's reads (``spark.ingest`` hands it to ``spark.kafka_source``, which only reads).
- ``BatchRecorder``: the ``foreachBatch`` function, which records each micro-batch's summary.
- ``progress_listener``: lag per partition and phase durations, from Spark's progress events.

Everything here is picklable or imported by name in Spark's Python workers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType, StructField, StructType

from spark.job_config import JobConfig

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

    from tillflow.jobs.ingest.sink import Sink

log = logging.getLogger("tillflow.spark.ingest")

#: One row per landed chunk: the rows ``Lander`` yields (``mapInArrow``'s schema).
SUMMARY_SCHEMA = (
    "topic string, partition int, records long, landed long, dead long, skipped long, "
    "end_offset long, parse_ms double, land_ms double, read_ms double, task_ms double"
)
#: The same, as the fused and tail engines' source schema (= SUMMARY_SCHEMA).
SUMMARY_SCHEMA_JSON = json.dumps(
    StructType(
        [
            StructField("topic", StringType()),
            StructField("partition", IntegerType()),
            StructField("records", LongType()),
            StructField("landed", LongType()),
            StructField("dead", LongType()),
            StructField("skipped", LongType()),
            StructField("end_offset", LongType()),
            StructField("parse_ms", DoubleType()),
            StructField("land_ms", DoubleType()),
            StructField("read_ms", DoubleType()),
            StructField("task_ms", DoubleType()),
        ]
    ).jsonValue()
)


# --- parse, validate, land (in the executors; on the driver for the tail engine) ------------------
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


# --- the driver: record each micro-batch and the query's progress ------------------------------
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


def summary_schema() -> StructType:
    """``SUMMARY_SCHEMA`` as the schema a source declares."""
    return StructType.fromJson(json.loads(SUMMARY_SCHEMA_JSON))
