"""
### tillflow_ingest

The catch-up ingestion: Spark Structured Streaming with `Trigger.availableNow` reads every
platform topic (scans `pos.scans`, order events `oltp.public.order_events`, CDC
`oltp.public.<table>`) up to the offsets present when it starts, lands them exactly once in the
warehouse's raw layer (`raw.pos_scans`, `raw.orders`, `raw.order_lines`, `raw.cdc_changes`; invalid
records in `raw.dead_letters` with the reason) and stops.

1. `migrate` — applies the warehouse migrations (raw layer, ingestion bookkeeping) through the
   administrator's connection `postgres_warehouse_admin`;
2. `spark_ingest` — `spark-submit spark/ingest_job.py --mode available-now` through the
   `spark_default` connection (master `local[2]` locally, a cluster elsewhere; the native
   `kafka` format is used where its jar is on the classpath);
3. `summary` — rows landed and dead letters of the run, lag left, from `ops.ingest_batches`
   (read through `postgres_warehouse`).

Exactly once: each chunk's rows and the job's commit log (`ops.ingest_offsets`) are one
transaction, and every run starts from that log, so overlapping or retried runs never duplicate.

- **Schedule:** every 15 minutes (one run at a time); `make demo` triggers it after the generators.
- **Inputs:** connections `postgres_warehouse_admin` (migrations), `kafka_default` (bootstrap
  servers), `spark_default` (master), `postgres_warehouse` (summary); the Spark job itself lands
  rows as the platform's ingest role (its `TILLFLOW_PG_*` settings).
- **Outputs:** the raw tables above (assets `raw.*`, updated by `summary`); XCom `summary` (batches, landed, dead letters, lag).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import dag, task

from tillflow import config
from tillflow_airflow.assets import RAW

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=30)}
JOB = "ingest"


@dag(
    dag_id="tillflow_ingest",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "ingestion", "spark"],
    doc_md=__doc__,
)
def tillflow_ingest() -> None:
    @task
    def migrate() -> list[str]:
        from tillflow.adapters.warehouse import migrate_warehouse
        from tillflow_airflow.connections import postgres_dsn

        return migrate_warehouse(postgres_dsn(config.CONN_WAREHOUSE_ADMIN))

    spark_ingest = SparkSubmitOperator(
        task_id="spark_ingest",
        conn_id=config.CONN_SPARK,
        application=str(config.PROJECT_ROOT / "spark" / "ingest_job.py"),
        name="tillflow-ingest",
        application_args=[
            "--mode",
            "available-now",
            "--job",
            JOB,
        ],
        conf={
            # The JVM only plans the micro-batches here (spark.ingest.C1_ONLY says why).
            "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
        },
        env_vars={
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYTHONDONTWRITEBYTECODE": "",
            # The job's Kafka clients and driver conf come from the connections (README,
            # "Running against a cluster"); secrets in them are masked in rendered fields.
            "TILLFLOW_KAFKA_CLIENT_CONFIG": "{{ conn.kafka_default.extra_dejson | tojson }}",
            "TILLFLOW_SPARK_CONF": "{{ conn.spark_default.extra_dejson | tojson }}",
        },
        execution_timeout=timedelta(minutes=30),
    )

    # The raw tables are this DAG's assets: the daily ELT reads them (tillflow_airflow.assets).
    @task(outlets=RAW)
    def summary() -> dict[str, Any]:
        from airflow.sdk import get_current_context

        from tillflow.jobs.ingest.progress import run_summary
        from tillflow_airflow.connections import postgres_dsn

        run = get_current_context()["dag_run"]
        # This run's query only (its checkpoint is named after the job); the opt-in continuous
        # job shares the job name and commit log but is another query. It only reads: dbt's role
        # (postgres_warehouse) reads every raw and ops table.
        dsn = postgres_dsn(config.CONN_WAREHOUSE)
        return run_summary(dsn, JOB, since=run.start_date, stream=JOB)

    migrate() >> spark_ingest >> summary()


tillflow_ingest()
