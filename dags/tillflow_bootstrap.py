"""
### tillflow_bootstrap

Prepares the platform's sources: the OLTP schema (versioned migrations), the seeded reference
data (32 item categories, 1000 stores in real IANA time zones, ~32,000 items, 10,000 customers,
12 payment methods — loaded once with COPY; a re-run changes nothing) and every Kafka topic
(scans, order events, CDC topics `oltp.public.<table>`, suggestions).

- **Schedule:** manual (run it once after `make up`; safe to repeat)
- **Inputs:** connections `postgres_oltp`, `kafka_default`; param `seed`
- **Outputs:** XComs `return_value` of `oltp` (migrations applied, rows per table) and `topics`
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=10)}


@dag(
    dag_id="tillflow_bootstrap",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "generators", "bootstrap"],
    doc_md=__doc__,
    params={"seed": Param(20261121, type="integer", description="base seed of the reference data")},
)
def tillflow_bootstrap() -> None:
    @task
    def oltp(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from tillflow.jobs.generators import tasks
        from tillflow_airflow.connections import postgres_dsn

        seed = int((params or {}).get("seed", 20261121))
        return tasks.bootstrap_oltp(postgres_dsn(config.CONN_OLTP), seed)

    @task
    def topics() -> dict[str, Any]:
        from tillflow.jobs.generators import tasks
        from tillflow_airflow.connections import kafka_connection

        return tasks.create_topics(kafka_connection(config.CONN_KAFKA))

    oltp()
    topics()


tillflow_bootstrap()
