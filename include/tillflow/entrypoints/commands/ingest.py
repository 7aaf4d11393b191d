"""CLI: ``tillflow ingest``, ``tillflow ingest-status``, ``tillflow bench ingest|ingest-fault``."""

from __future__ import annotations

import argparse
import os
import sys

from tillflow import config
from tillflow.config import Settings
from tillflow.entrypoints.commands import CommandTree


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
    try:  # a warehouse without the epochs migration yet still shows its batches
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            epochs, current, lost = conn.execute(
                "select count(*), max(epoch),"
                " (select coalesce(sum(records), 0) from ops.ingest_losses)"
                " from ops.broker_epochs"
            ).fetchone() or (0, None, 0)
    except psycopg.Error:
        epochs, current, lost = 0, None, 0
    for job, stream, batch, landed, dead, lag, ms, finished in rows:
        lag_s = "-" if lag is None else f"{lag:,}"
        name = f"{job} / {stream}" if stream else job
        lines.append(
            f"{name[:36]:<36} {batch:>7} {landed:>9,} {dead:>6,} {lag_s:>9} {ms:>7.0f}  "
            f"{finished:%Y-%m-%d %H:%M:%S}"
        )
    if epochs:
        lines.append(
            f"broker incarnations seen: {epochs} (now epoch {current}); records a broker held"
            f" that ingestion never read before it went away: {lost:,} (ops.ingest_losses)"
        )
    return lines


def register(tree: CommandTree) -> None:
    sub = tree.root
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
