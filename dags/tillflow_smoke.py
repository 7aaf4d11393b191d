"""
### tillflow_smoke

Round trips through every service of the platform: both PostgreSQL databases (OLTP and
warehouse), the Kafka broker, Redis and Spark. Each task writes something unique and reads it back.

- **Schedule:** manual (`make demo` triggers it; so can the UI)
- **Inputs:** the connections `postgres_oltp`, `postgres_warehouse`, `kafka_default`,
  `redis_default`, `spark_default`
- **Outputs:** an XCom `summary` (service, ok, detail, milliseconds) per check
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=10)}


@dag(
    dag_id="tillflow_smoke",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "smoke"],
    doc_md=__doc__,
)
def tillflow_smoke() -> None:
    @task
    def postgres(conn_id: str) -> dict[str, Any]:
        from tillflow.jobs import smoke
        from tillflow_airflow.connections import postgres_dsn

        return smoke.postgres_roundtrip(postgres_dsn(conn_id), conn_id).as_dict()

    @task
    def kafka() -> dict[str, Any]:
        from tillflow.jobs import smoke
        from tillflow_airflow.connections import kafka_connection

        connection = kafka_connection(config.CONN_KAFKA)
        return smoke.kafka_roundtrip(connection, config.TOPICS.smoke).as_dict()

    @task
    def redis() -> dict[str, Any]:
        from tillflow.jobs import smoke
        from tillflow_airflow.connections import redis_address

        return smoke.redis_roundtrip(*redis_address(config.CONN_REDIS)).as_dict()

    @task
    def spark() -> dict[str, Any]:
        from tillflow.jobs import smoke
        from tillflow_airflow.connections import spark_settings

        return smoke.spark_roundtrip(spark_settings(config.CONN_SPARK)).as_dict()

    @task
    def summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        failed = [r["service"] for r in results if not r["ok"]]
        if failed:
            raise RuntimeError(f"smoke checks failed: {failed}")
        return results

    checks = [
        postgres.override(task_id="postgres_oltp")(config.CONN_OLTP),
        postgres.override(task_id="postgres_warehouse")(config.CONN_WAREHOUSE),
        kafka(),
        redis(),
        spark(),
    ]
    summary(checks)


tillflow_smoke()
