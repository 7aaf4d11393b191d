"""What an ingestion job landed: its progress rows in ``ops.ingest_batches`` and the raw totals."""

from __future__ import annotations

from typing import Any


def run_summary(dsn: str, job: str, since: Any = None, stream: str | None = None) -> dict[str, Any]:
    """What a job landed since ``since`` (a run's start), by all its queries or by the one named
    ``stream`` (its checkpoint folder), and what is in raw now. Reads only: ``dsn`` may be any
    role that reads ``raw`` and ``ops`` (the DAG's is dbt's, through ``postgres_warehouse``)."""
    import psycopg

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
