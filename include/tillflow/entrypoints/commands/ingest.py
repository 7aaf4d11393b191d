"""CLI: ``tillflow ingest``, ``tillflow ingest-status``, ``tillflow bench ingest|ingest-fault``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tillflow import config
from tillflow.config import Settings
from tillflow.entrypoints.cli import command_group


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Spark ingestion job in this process's place (signals reach it directly)."""
    from tillflow.adapters.warehouse import ensure_schema
    from tillflow.jobs.ingest.jobargs import to_argv
    from tillflow.jobs.ingest.launcher import JOB_SCRIPT, job_env

    ensure_schema(settings)
    argv = [sys.executable, str(JOB_SCRIPT), *to_argv(args)]
    os.execve(sys.executable, argv, job_env())


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    for line in status_lines(settings, args.limit):
        print(line)
    return 0


def status_lines(settings: Settings, limit: int = 5) -> list[str]:
    """Ingestion progress per job and query (its checkpoint): last batches, rows, lag (for
    `tillflow status`)."""
    import psycopg

    dsn = settings.postgres.dsn(config.DB_WAREHOUSE, settings.postgres.ingest)
    lines = [
        f"{'JOB / QUERY':<36} {'BATCH':>7} {'ROWS':>9} {'DEAD':>6} {'LAG':>9} {'MS':>7}  FINISHED"
    ]
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            rows = conn.execute(
                "select job, stream, batch_id, rows_landed, dead_letters, total_lag,"
                " extract(epoch from finished_at - started_at) * 1000, finished_at"
                " from (select *, row_number() over (partition by job, stream"
                "       order by batch_id desc) rn from ops.ingest_batches) b"
                " where rn <= %s order by job, stream, batch_id desc",
                (limit,),
            ).fetchall()
    except psycopg.Error as exc:
        return [f"ingestion status unavailable: {str(exc).strip()[:200]}"]
    for job, stream, batch, landed, dead, lag, ms, finished in rows:
        lag_s = "-" if lag is None else f"{lag:,}"
        name = f"{job} / {stream}" if stream else job
        lines.append(
            f"{name[:36]:<36} {batch:>7} {landed:>9,} {dead:>6,} {lag_s:>9} {ms:>7.0f}  "
            f"{finished:%Y-%m-%d %H:%M:%S}"
        )
    return lines


def run_summary(
    settings: Settings, job: str, since: Any = None, stream: str | None = None
) -> dict[str, Any]:
    """What a job landed since ``since`` (a run's start), by all its queries or by the one named
    ``stream`` (its checkpoint folder), and what is in raw now."""
    import psycopg

    dsn = settings.postgres.dsn(config.DB_WAREHOUSE, settings.postgres.ingest)
    with psycopg.connect(dsn) as conn:
        batches, landed, dead, records = conn.execute(
            "select count(*), coalesce(sum(rows_landed), 0), coalesce(sum(dead_letters), 0),"
            " coalesce(sum(input_rows), 0) from ops.ingest_batches"
            " where job = %s and (%s::timestamptz is null or finished_at >= %s::timestamptz)"
            " and (%s::text is null or stream = %s::text)",
            (job, since, since, stream, stream),
        ).fetchone() or (0, 0, 0, 0)
        lag = conn.execute(
            # The latest batch of any of the job's queries (batch ids count per query).
            "select total_lag from ops.ingest_batches where job = %s and total_lag is not null"
            " and (%s::text is null or stream = %s::text) order by finished_at desc limit 1",
            (job, stream, stream),
        ).fetchone()
        totals = {
            table: int((conn.execute(f"select count(*) from {table}").fetchone() or (0,))[0])
            for table in (
                "raw.pos_scans",
                "raw.orders",
                "raw.order_lines",
                "raw.cdc_changes",
                "raw.dead_letters",
            )
        }
    return {
        "job": job,
        "batches": int(batches),
        "records": int(records),
        "landed": int(landed),
        "dead_letters": int(dead),
        "lag": None if lag is None else int(lag[0]),
        "raw_totals": totals,
    }


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import ingest as bench

    report = bench.run(
        settings,
        events_count=args.events,
        pg_rows=args.pg_rows,
        latency_seconds=args.latency_seconds,
        latency_rate=args.rate,
        triggers=args.trigger_seconds,
        sink_mode=args.sink_mode,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
    )
    if args.json:
        print(json.dumps(report, default=str))
    return 0


def _cmd_fault(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import ingest as bench

    bench.ensure_schema(settings)
    result: Any = bench.fault_drill(
        settings, count=args.events, kills=args.kills, seed=args.seed, keep=args.keep
    )
    ok = result.missing == 0 and result.duplicated == 0 and result.landed_rows == result.produced
    print(
        f"fault drill: produced {result.produced:,}, kill -9 x{result.kills}, "
        f"raw rows {result.landed_rows:,}, distinct ids {result.distinct_ids:,}, "
        f"missing {result.missing}, duplicated {result.duplicated} in {result.seconds:.0f}s "
        f"-> {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


def _cmd_pg_restart(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import ingest_restart as restart_drill

    r = restart_drill.run(settings, count=args.events, down_seconds=args.down_seconds)
    print(
        f"PostgreSQL restart: produced {r.produced:,}, stopped at {r.landed_at_stop:,} landed for"
        f" {r.down_seconds:.0f}s; the job restarted its query {r.query_restarts}x and landed the"
        f" rest {r.recovered_seconds:.0f}s after the restart; raw rows {r.landed_rows:,},"
        f" distinct ids {r.distinct_ids:,}, missing {r.missing}, duplicated {r.duplicated}"
        f" in {r.seconds:.0f}s -> {'OK' if r.ok else 'FAILED'}"
    )
    return 0 if r.ok else 1


def register(sub: Any) -> None:
    from tillflow.jobs.ingest.jobargs import add_arguments

    p = sub.add_parser(
        "ingest",
        help="run the Spark ingestion job (Kafka -> raw), continuous or available-now",
        description="Spark Structured Streaming from Kafka into the warehouse raw layer, exactly "
        "once (spark/ingest_job.py; spark-submit runs the same file).",
    )
    add_arguments(p)
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("ingest-status", help="ingestion progress: last batches, rows, lag")
    p.add_argument("-n", "--limit", type=int, default=5, help="batches per job (default 5)")
    p.set_defaults(func=_cmd_status)

    bench = command_group(sub, "bench", "benchmarks measured on this machine")
    p = bench.add_parser("ingest", help="PG limit, plain consumer, Spark rows/s, latency p50-p99")
    p.add_argument("--events", type=int, default=1_000_000, help="scans to ingest (max 2M)")
    p.add_argument("--pg-rows", type=int, default=1_000_000)
    p.add_argument("--rate", type=int, default=2000, help="events/s for the latency run")
    p.add_argument("--latency-seconds", type=float, default=30.0)
    p.add_argument(
        "--trigger-seconds",
        type=float,
        nargs="+",
        default=[1.0, 0.5],
        help="one freshness run per trigger interval (default: 1.0, the job's default, and 0.5)",
    )
    p.add_argument("--sink-mode", choices=("merge", "direct"), default="direct")
    p.add_argument("--max-offsets-per-trigger", type=int, default=200_000)
    p.add_argument("--json", action="store_true", help="also print the report as JSON")
    p.set_defaults(func=_cmd_bench)

    p = bench.add_parser("ingest-fault", help="kill -9 the job N times mid-ingest; compare ids")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the landed rows for inspection")
    p.set_defaults(func=_cmd_fault)

    p = bench.add_parser(
        "ingest-pg-restart",
        help="stop and start PostgreSQL under the running job; compare ids",
        description="The continuous job lands --events scans; once a fifth is in raw the stack's "
        "PostgreSQL is stopped for --down-seconds and started again. The job must land the rest "
        "by itself, each scan exactly once. Needs `tillflow up postgres kafka`.",
    )
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--down-seconds", type=float, default=15.0)
    p.set_defaults(func=_cmd_pg_restart)
