"""
### tillflow_item_churn

Item-master churn and customer tier changes in the OLTP database, one hour slot per run: every
item of one category gets +10 % or -10 % on its price, 5 new items appear, 3 items are deleted
(clearance items first, never one an order refers to) and 20 customers move one tier. CDC
publishes each change (topics `oltp.public.item_master`, `oltp.public.customers`). A slot is
applied once: a retry or a re-run of the same slot changes nothing.

- **Schedule:** hourly (`CronDataIntervalTimetable`), the slot is the data interval's end
- **Inputs:** connection `postgres_oltp`; param `seed`
- **Outputs:** an XCom `return_value`: per kind, the slot, whether it applied, what changed
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=10)}


@dag(
    dag_id="tillflow_item_churn",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "generators", "churn"],
    doc_md=__doc__,
    params={"seed": Param(20261121, type="integer")},
)
def tillflow_item_churn() -> None:
    @task
    def churn(
        data_interval_end: Any = None, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        from datetime import UTC

        from tillflow.jobs.generators import tasks
        from tillflow_airflow.connections import postgres_dsn

        at = tasks.parse_instant(data_interval_end) or datetime.now(UTC)
        seed = int((params or {}).get("seed", 20261121))
        return tasks.churn(postgres_dsn(config.CONN_OLTP), at, seed)

    churn()


tillflow_item_churn()
