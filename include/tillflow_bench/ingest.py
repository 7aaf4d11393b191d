"""``tillflow bench ingest``: every figure from ONE run, beside the limits it is judged against.

1. PostgreSQL's limit for this sink: pre-parsed scans landed by the sink alone (COPY binary +
   merge, and COPY binary direct), no Kafka, no parsing.
2. A plain-Python consumer → the same parser and sink.
3. The Spark job (availableNow, several micro-batches) → its sustained rows/s.
4. Freshness: events produced at a fixed rate while the continuous Spark job runs; produce →
   visible (the commit-log row, written in the rows' transaction) p50/p95/p99.

Also the fault drill (``tillflow bench ingest-fault``): kill -9 the job N times mid-ingest and
compare the id sets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.adapters.warehouse import admin_dsn, warehouse_dsn
from tillflow.adapters.warehouse import ensure_schema as ensure_schema  # the drills' callers use it
from tillflow.config import KafkaConnection, Settings
from tillflow.domain.events import samples as events
from tillflow.jobs.ingest.jobargs import DEFAULT_TRIGGER_SECONDS
from tillflow.jobs.ingest.launcher import JOB_SCRIPT, job_env

#: ``tillflow bench ingest`` measures in a scratch warehouse made anew each run and dropped at the
#: end: every run starts from the same empty tables and indexes, and the real warehouse never
#: carries the bench's rows (the benches had left 351 MB of empty primary key in raw.pos_scans).
BENCH_DB = "tillflow_bench_warehouse"
#: Freshness targets at the job's default trigger: event produced -> visible in raw.
FRESHNESS_P95_S = 1.0
FRESHNESS_P99_S = 1.5


def meets_freshness(report: dict[str, Any]) -> bool | None:
    """Whether a report's freshness at the default trigger meets both targets (None: not run)."""
    lat = report.get("latency", {}).get(DEFAULT_TRIGGER_SECONDS)
    if not lat or "p50" not in lat:
        return None
    return bool(lat["p95"] <= FRESHNESS_P95_S and lat["p99"] <= FRESHNESS_P99_S)


# --- producing ----------------------------------------------------------------------------------
def produce_scans(
    connection: KafkaConnection, topic: str, count: int, start: int = 0, partitions: int = 4
) -> float:
    """Produce ``count`` valid scans (ids start..start+count-1); -> seconds."""
    from tillflow.adapters.kafka import ensure_topics, producer

    ensure_topics(connection, {topic: partitions})
    p = producer(connection)
    t0 = time.perf_counter()
    for key, value in events.scans(start, count):
        while True:
            try:
                p.produce(topic, value, key)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(60)
    return time.perf_counter() - t0


def produce_records(
    connection: KafkaConnection, topic: str, records: Sequence[tuple[bytes | None, bytes | None]]
) -> None:
    from tillflow.adapters.kafka import ensure_topics, producer

    ensure_topics(connection, {topic: 4})
    p = producer(connection)
    for key, value in records:
        p.produce(topic, value, key)
    p.flush(60)


# --- 1. PostgreSQL limit -------------------------------------------------------------------------
def pg_limit(dsn: str, rows: int, mode: str, chunk: int = 200_000) -> float:
    """rows/s of the sink alone (parsing excluded) landing ``rows`` pre-parsed scans."""
    import pyarrow as pa

    from tillflow.domain.events import scans
    from tillflow.domain.events.records import Parsed, TimeWindow, kafka_arrow_schema
    from tillflow.jobs.ingest.sink import Sink

    topic = f"bench.pglimit.{uuid.uuid4().hex[:8]}"
    window = TimeWindow.current()
    n = min(rows, chunk)
    values = [v for _, v in events.scans(0, n)]
    kafka = pa.table(
        [
            pa.array([None] * n, pa.binary()),
            pa.array(values, pa.binary()),
            pa.array([topic] * n),
            pa.array([0] * n, pa.int32()),
            pa.array(range(n), pa.int64()),
            pa.array([0] * n, pa.timestamp("us", tz="UTC")),
            pa.array([0] * n, pa.int32()),
        ],
        schema=kafka_arrow_schema(),
    )
    table = scans.parse(kafka, window).tables[scans.TABLE]
    sink = Sink(dsn, f"bench-pglimit-{mode}", mode)
    sink.connect()
    landed = 0
    elapsed = 0.0
    try:
        while landed < rows:
            offsets = pa.array(range(landed, landed + n), pa.int64())
            chunk_table = table.set_column(
                table.schema.get_field_index("kafka_offset"), "kafka_offset", offsets
            )
            parsed = Parsed(tables={scans.TABLE: chunk_table})
            t0 = time.perf_counter()
            sink.land(parsed, {(topic, 0): landed + n})
            elapsed += time.perf_counter() - t0
            landed += n
    finally:
        sink.close()
        cleanup(dsn, [topic])
    return landed / elapsed


def delete_topics(connection: KafkaConnection, topics: Sequence[str]) -> None:
    """Drop the bench's own topics (the broker keeps every message in memory otherwise)."""
    from tillflow.adapters import kafka

    mine = [t for t in topics if t.startswith(("bench.", "test."))]
    if not mine:
        return
    admin = kafka.admin(connection)  # kept alive until the futures resolve
    for future in admin.delete_topics(mine).values():
        # already gone, or the broker refuses: nothing to keep either way
        with contextlib.suppress(Exception):
            future.result(timeout=10)


def drop_checkpoints(settings: Settings, jobs: Sequence[str]) -> None:
    import shutil

    for job in jobs:
        shutil.rmtree(settings.home / "spark" / "checkpoints" / job, ignore_errors=True)


def discard(settings: Settings, dsn: str, topic: str, job: str) -> None:
    """Everything one measured job left: its rows and progress, its topic, its checkpoint."""
    cleanup(dsn, [topic], [job])
    delete_topics(settings.kafka.connection, [topic])
    drop_checkpoints(settings, [job])


def cleanup(dsn: str, topics: Sequence[str], jobs: Sequence[str] = ()) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in (
            "raw.pos_scans",
            "raw.dead_letters",
            "raw.cdc_changes",
            "raw.orders",
            "raw.order_lines",
        ):
            conn.execute(f"delete from {table} where kafka_topic = any(%s)", (list(topics),))
        conn.execute("delete from ops.ingest_offsets where kafka_topic = any(%s)", (list(topics),))
        if jobs:
            conn.execute("delete from ops.ingest_batches where job = any(%s)", (list(jobs),))


def settle(settings: Settings, database: str = config.DB_WAREHOUSE) -> None:
    """Vacuum what a phase wrote and deleted, and checkpoint, so that autovacuum and the
    checkpointer work between the measured phases rather than during the next one."""
    import psycopg

    with psycopg.connect(admin_dsn(settings, database), autocommit=True) as conn:
        conn.execute(
            "vacuum (analyze) raw.pos_scans, raw.dead_letters, ops.ingest_offsets,"
            " ops.ingest_batches"
        )
        conn.execute("checkpoint")


# --- 3. the Spark job ----------------------------------------------------------------------------
def job_command(
    topics: Sequence[str],
    job: str,
    mode: str,
    checkpoint: Path,
    extra: Sequence[str] = (),
) -> list[str]:
    return [
        sys.executable,
        str(JOB_SCRIPT),
        "--mode",
        mode,
        "--topics",
        *topics,
        "--job",
        job,
        "--checkpoint",
        str(checkpoint),
        *extra,
    ]


def drill_command(
    topic: str, job: str, checkpoint: Path, max_offsets_per_trigger: int = 50_000
) -> list[str]:
    """The continuous job of the drills: small micro-batches (0.5 s trigger, a cap per
    trigger), so a kill or a stopped database finds it mid-stream."""
    return job_command(
        [f"{topic}:scans"],
        job,
        "continuous",
        checkpoint,
        [
            "--trigger-seconds",
            "0.5",
            "--max-offsets-per-trigger",
            str(max_offsets_per_trigger),
            "--sink-mode",
            "merge",
        ],
    )


def start_job(cmd: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    return subprocess.Popen(
        list(cmd), stdout=log, stderr=subprocess.STDOUT, env=job_env(), start_new_session=True
    )


def kill_job(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 the job's whole process group: driver, JVM, Python workers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def batch_stats(dsn: str, job: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select batch_id, input_rows, rows_landed, dead_letters, started_at, finished_at,"
            " durations_ms from ops.ingest_batches where job = %s order by batch_id",
            (job,),
        ).fetchall()
    return {"batches": rows}


def landed_count(dsn: str, topic: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select (select count(*) from raw.pos_scans where kafka_topic = %s)"
            " + (select count(*) from raw.dead_letters where kafka_topic = %s)",
            (topic, topic),
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class SparkRun:
    records: int
    wall_seconds: float
    sustained_rows_per_s: float
    batches: int
    batch_ms: list[float] = field(default_factory=list)
    phases_ms: dict[str, float] = field(default_factory=dict)


def spark_catch_up(
    settings: Settings,
    topic: str,
    job: str,
    expected: int,
    extra: Sequence[str] = (),
    timeout: float = 900.0,
    database: str = config.DB_WAREHOUSE,
) -> SparkRun:
    """Run the availableNow job once over ``topic``; sustained = rows / (first batch start to
    last batch end), i.e. without the session start-up."""
    dsn = warehouse_dsn(settings, database)
    checkpoint = settings.home / "spark" / "checkpoints" / job
    cmd = job_command(
        [f"{topic}:scans"], job, "available-now", checkpoint, [*extra, "--database", database]
    )
    t0 = time.perf_counter()
    proc = start_job(cmd, settings.log_dir / f"{job}.log")
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_job(proc)
        raise
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"spark job failed ({proc.returncode}); see {settings.log_dir / f'{job}.log'}"
        )
    rows = batch_stats(dsn, job)["batches"]
    records = sum(r[1] or 0 for r in rows)
    real = [r for r in rows if (r[1] or 0) > 0]
    if not real:
        return SparkRun(records, wall, 0.0, 0)
    # A micro-batch as a whole is triggerExecution. The first one also warms the Python workers
    # up (imports, connections): sustained is measured over the batches after it.
    trigger_ms = [float((r[6] or {}).get("triggerExecution", 0)) for r in real]
    steady = real[1:] if len(real) > 1 else real
    steady_ms = trigger_ms[1:] if len(real) > 1 else trigger_ms
    span = sum(steady_ms) / 1000 or (real[-1][5] - real[0][4]).total_seconds()
    steady_records = sum(r[1] or 0 for r in steady)
    phases: dict[str, float] = {}
    for r in steady:
        for k, v in (r[6] or {}).items():
            phases[k] = phases.get(k, 0.0) + float(v)
    return SparkRun(
        records=records,
        wall_seconds=wall,
        sustained_rows_per_s=steady_records / span if span else 0.0,
        batches=len(real),
        batch_ms=trigger_ms,
        phases_ms={k: v / len(steady) for k, v in phases.items()},
    )


# --- 4. freshness ---------------------------------------------------------------------------------
def latency(
    settings: Settings,
    rate: int = 2000,
    seconds: float = 30.0,
    trigger_seconds: float = 1.0,
    engine_extra: Sequence[str] = (),
    database: str = config.DB_WAREHOUSE,
) -> dict[str, float]:
    """Produce ``rate`` events/s for ``seconds`` with the continuous job running; produce → visible
    latency per event, visible meaning its commit-log row (same transaction as the row) shows an
    offset past it."""
    import psycopg

    from tillflow.adapters.kafka import ensure_topics, producer

    dsn = warehouse_dsn(settings, database)
    topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
    job = f"bench-latency-{topic.rsplit('.', 1)[-1]}"
    ensure_topics(settings.kafka.connection, {topic: 4})
    checkpoint = settings.home / "spark" / "checkpoints" / job
    cmd = job_command(
        [f"{topic}:scans"],
        job,
        "continuous",
        checkpoint,
        ["--trigger-seconds", str(trigger_seconds), "--database", database, *engine_extra],
    )
    proc = start_job(cmd, settings.log_dir / f"{job}.log")
    produced: dict[tuple[int, int], float] = {}
    visible: dict[tuple[int, int], float] = {}
    try:
        # Wait until the job is up: a first event must land.
        # The platform's producer settings (linger 5 ms, as the generators use). The latency
        # counts from before produce(), so the linger is in it. With 1 ms, this broker (one
        # record batch per partition per fetch) fell behind on the tiny batches: the records'
        # age at the consumer reached p95 1.3-1.5 s, against 0.49 s with 5 ms.
        p = producer(settings.kafka.connection)
        p.produce(
            topic, events.scan(10**9, events.iso_ms(dt.datetime.now(dt.UTC))), b"0", partition=0
        )
        p.flush(10)
        deadline = time.monotonic() + 180
        while landed_count(dsn, topic) < 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    f"latency job did not start; see {settings.log_dir / f'{job}.log'}"
                )
            time.sleep(0.2)

        def on_delivery(err: Any, msg: Any) -> None:
            if err is None:
                produced[(msg.partition(), msg.offset())] = sent.pop(msg.value(), time.time())

        sent: dict[bytes, float] = {}

        stop = threading.Event()

        def poll_visible() -> None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                last: dict[int, int] = {}
                while not stop.is_set():
                    now = time.time()
                    for part, nxt in conn.execute(
                        "select kafka_partition, ops.broker_offset(next_offset) from ops.ingest_offsets"
                        " where job = %s and kafka_topic = %s",
                        (job, topic),
                    ).fetchall():
                        for off in range(last.get(part, 0), nxt):
                            visible.setdefault((part, off), now)
                        last[part] = max(last.get(part, 0), nxt)
                    # A row counts as visible at the poll that first sees it: poll often, so
                    # the figure is late by about 1 ms rather than 5 (0.3 ms a query here).
                    time.sleep(0.002)

        poller = threading.Thread(target=poll_visible, daemon=True)
        poller.start()
        n = int(rate * seconds)
        t_start = time.time()
        stamp_every = 100
        for i in range(n):
            due = t_start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            if i % stamp_every == 0:
                stamp = events.iso_ms(dt.datetime.now(dt.UTC))
            value = events.scan(i, stamp)
            sent[value] = time.time()
            p.produce(topic, value, str(i % 1000).encode(), on_delivery=on_delivery)
            p.poll(0)
        p.flush(30)
        deadline = time.monotonic() + 60
        while (
            len([k for k in produced if k in visible]) < len(produced)
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        stop.set()
        poller.join(5)
    finally:
        kill_job(proc)
        stats = batch_stats(dsn, job)["batches"]
        discard(settings, dsn, topic, job)
    phases: dict[str, float] = {}
    steady = [r for r in stats[2:] if r[6]]
    for r in steady:
        for k, v in r[6].items():
            phases[k] = phases.get(k, 0.0) + float(v) / len(steady)
    lat = sorted(visible[k] - t for k, t in produced.items() if k in visible)
    missing = len(produced) - len(lat)
    if not lat:
        return {"events": 0.0, "missing": float(missing)}
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        **{f"batch_{k}_ms": v for k, v in phases.items()},
        "batches": float(len(stats)),
        "events": float(len(lat)),
        "missing": float(missing),
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": lat[-1],
    }


# --- the fault drill -----------------------------------------------------------------------------
@dataclass
class FaultResult:
    produced: int
    kills: int
    landed_rows: int
    distinct_ids: int
    missing: int
    duplicated: int
    seconds: float
    kill_points: list[str] = field(default_factory=list)


def id_check(dsn: str, topic: str, count: int, start: int = 0) -> tuple[int, int, int, int]:
    """-> (rows, distinct scan ids, ids missing from start..start+count-1, ids landed twice)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows, distinct = conn.execute(
            "select count(*), count(distinct scan_id) from raw.pos_scans where kafka_topic = %s",
            (topic,),
        ).fetchone() or (0, 0)
        missing = conn.execute(
            "select count(*) from generate_series(%s::bigint, %s::bigint) g(i)"
            " where not exists (select 1 from raw.pos_scans s where s.kafka_topic = %s"
            "   and s.scan_id = lpad(to_hex(g.i), 32, '0'))",
            (start, start + count - 1, topic),
        ).fetchone()
        dup = conn.execute(
            "select count(*) from (select scan_id from raw.pos_scans where kafka_topic = %s"
            " group by scan_id having count(*) > 1) d",
            (topic,),
        ).fetchone()
    return int(rows), int(distinct), int(missing[0] if missing else -1), int(dup[0] if dup else -1)


def fault_drill(
    settings: Settings,
    count: int = 1_000_000,
    kills: int = 10,
    min_delay: float = 0.0,
    max_delay: float = 3.0,
    max_offsets_per_trigger: int = 50_000,
    seed: int | None = None,
    keep: bool = False,
    topic: str | None = None,
    log: Any = print,
) -> FaultResult:
    """Produce ``count`` scans; run the continuous job and kill -9 it ``kills`` times at random
    points, restarting each time; then let it finish and compare the id sets."""
    rng = random.Random(seed)
    dsn = warehouse_dsn(settings)
    topic = topic or f"test.scans.fault.{uuid.uuid4().hex[:8]}"
    job = f"fault-{topic.rsplit('.', 1)[-1]}"
    checkpoint = settings.home / "spark" / "checkpoints" / job
    t0 = time.perf_counter()
    produce_scans(settings.kafka.connection, topic, count)
    log(f"produced {count:,} scans to {topic} in {time.perf_counter() - t0:.1f}s")
    cmd = drill_command(topic, job, checkpoint, max_offsets_per_trigger)
    points: list[str] = []
    try:
        for k in range(kills):
            before = landed_count(dsn, topic)
            if before >= count:
                log(f"everything landed before kill #{k + 1}; stopping the kills there")
                break
            proc = start_job(cmd, settings.log_dir / f"{job}.log")
            # Kill only once this run is landing (Spark's start-up is not the point), at a
            # random moment after that: mid-batch, mid-COPY, mid-commit or between batches.
            deadline = time.monotonic() + 300
            while landed_count(dsn, topic) <= before and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"job exited early; see {settings.log_dir / f'{job}.log'}")
                time.sleep(0.05)
            delay = rng.uniform(min_delay, max_delay)
            time.sleep(delay)
            at = landed_count(dsn, topic)
            kill_job(proc)
            points.append(f"+{delay:.2f}s@{at}")
            log(f"kill -9 #{k + 1} {delay:.2f}s into landing: {at:,} of {count:,} landed")
        finish = job_command([f"{topic}:scans"], job, "available-now", checkpoint)
        proc = start_job(finish, settings.log_dir / f"{job}.log")
        proc.wait(1800)
        if proc.returncode != 0:
            raise RuntimeError(f"final catch-up failed; see {settings.log_dir / f'{job}.log'}")
        rows, distinct, missing, dup = id_check(dsn, topic, count)
    finally:
        if not keep:
            discard(settings, dsn, topic, job)
    return FaultResult(count, kills, rows, distinct, missing, dup, time.perf_counter() - t0, points)


# --- the one-run report ----------------------------------------------------------------------------
def run(
    settings: Settings,
    events_count: int = 1_000_000,
    pg_rows: int = 1_000_000,
    latency_seconds: float = 30.0,
    latency_rate: int = 2000,
    triggers: Sequence[float] = (DEFAULT_TRIGGER_SECONDS, 1.0),
    sink_mode: str = "direct",
    max_offsets_per_trigger: int = 200_000,
    out: Any = print,
) -> dict[str, Any]:
    from tillflow.adapters.warehouse import drop_database, prepare_warehouse

    database = BENCH_DB
    server = settings.postgres.dsn("postgres")
    try:
        # A fresh warehouse with the real one's roles, schemas, grants and migrations.
        prepare_warehouse(settings, database, fresh=True)
        return _measure(
            settings,
            database,
            events_count,
            pg_rows,
            latency_seconds,
            latency_rate,
            triggers,
            sink_mode,
            max_offsets_per_trigger,
            out,
        )
    finally:
        drop_database(server, database)


def _measure(
    settings: Settings,
    database: str,
    events_count: int,
    pg_rows: int,
    latency_seconds: float,
    latency_rate: int,
    triggers: Sequence[float],
    sink_mode: str,
    max_offsets_per_trigger: int,
    out: Any,
) -> dict[str, Any]:
    dsn = warehouse_dsn(settings, database)
    report: dict[str, Any] = {"events": events_count, "sink_mode": sink_mode}
    out(
        f"tillflow bench ingest: {events_count:,} scans, sink mode {sink_mode},"
        f" scratch database {database}, load {os.getloadavg()[0]:.1f}"
    )

    out("1/4 PostgreSQL limit (sink alone, pre-parsed scans) ...")
    report["pg_merge_rows_s"] = pg_limit(dsn, pg_rows, "merge")
    report["pg_direct_rows_s"] = pg_limit(dsn, pg_rows, "direct")
    pg_limit_rate = report[f"pg_{sink_mode}_rows_s"]
    settle(settings, database)

    topic = f"bench.scans.{uuid.uuid4().hex[:8]}"
    out(f"    producing {events_count:,} scans to {topic} ...")
    report["produce_s"] = produce_scans(settings.kafka.connection, topic, events_count)

    out("2/4 plain-Python consumer -> same parser and sink ...")
    from tillflow.jobs.ingest import plain

    plain_job = f"bench-plain-{topic.rsplit('.', 1)[-1]}"
    res = plain.run(
        settings.kafka.connection,
        [topic],
        dsn,
        plain_job,
        kinds={topic: "scans"},
        sink_mode=sink_mode,
        stop_after=events_count,
        idle_seconds=20,
    )
    report["plain_rows_s"] = res.records / res.seconds if res.seconds else 0.0
    cleanup(dsn, [topic], [plain_job])
    settle(settings, database)

    out("3/4 Spark job (availableNow, micro-batches) ...")
    spark_job = f"bench-spark-{topic.rsplit('.', 1)[-1]}"
    run_ = spark_catch_up(
        settings,
        topic,
        spark_job,
        events_count,
        ["--sink-mode", sink_mode, "--max-offsets-per-trigger", str(max_offsets_per_trigger)],
        database=database,
    )
    report["spark_rows_s"] = run_.sustained_rows_per_s
    report["spark_wall_s"] = run_.wall_seconds
    report["spark_batches"] = run_.batches
    report["spark_phase_ms"] = run_.phases_ms
    report["spark_landed"] = landed_count(dsn, topic)
    cleanup(dsn, [topic], [spark_job])
    delete_topics(settings.kafka.connection, [topic])
    drop_checkpoints(settings, [spark_job])
    settle(settings, database)

    report["latency"] = {}
    for trigger in triggers:
        out(
            f"4/4 freshness at {latency_rate:,} events/s for {latency_seconds:.0f}s,"
            f" trigger {trigger}s ..."
        )
        report["latency"][trigger] = latency(
            settings,
            latency_rate,
            latency_seconds,
            trigger,
            ["--sink-mode", sink_mode],
            database=database,
        )
        settle(settings, database)

    spark_rate = report["spark_rows_s"]
    lines = [
        "",
        f"{'measure':<44} {'value':>14}  target / ratio",
        f"{'PostgreSQL COPY + upsert (merge) limit':<44} {report['pg_merge_rows_s']:>12,.0f}/s",
        f"{'PostgreSQL COPY direct (fenced) limit':<44} {report['pg_direct_rows_s']:>12,.0f}/s",
        f"{'plain-Python consumer -> sink':<44} {report['plain_rows_s']:>12,.0f}/s"
        f"  {report['plain_rows_s'] / pg_limit_rate:.2f} x the {sink_mode} sink's limit",
        f"{'Spark job sustained (after batch 0)':<44} {spark_rate:>12,.0f}/s"
        f"  target 150,000/s; {spark_rate / report['pg_merge_rows_s']:.2f} x COPY + upsert"
        f" limit (target >= 0.5); {spark_rate / pg_limit_rate:.2f} x the {sink_mode} sink's"
        f" limit; {spark_rate / max(report['plain_rows_s'], 1):.2f} x plain (target > 1)",
        f"{'Spark landed / produced':<44} {report['spark_landed']:>14,}  of {events_count:,}",
        f"{'Spark batches (first = warm-up), steady ms':<44} {run_.batches:>14}  "
        + json.dumps({k: round(v) for k, v in run_.phases_ms.items()}),
    ]
    for trigger, lat in report["latency"].items():
        label = f"freshness, {trigger:g} s trigger: p50 / p95 / p99 s"
        if "p50" not in lat:
            lines.append(f"{label:<44} none visible ({lat})")
            continue
        # An event waits for the next trigger: uniform over the interval, so p95 >= 0.95 x it.
        lines.append(
            f"{label:<44} {lat['p50']:>4.2f} / {lat['p95']:.2f} / {lat['p99']:.2f}"
            f"  targets p95 <= 1.0, p99 <= 1.5; floor (trigger wait) p95 {0.95 * trigger:.2f};"
            f" {int(lat['events'])} events, {int(lat['missing'])} unseen"
        )
    for line in lines:
        out(line)
    return report
