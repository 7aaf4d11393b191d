"""
### tillflow_lakehouse

The lakehouse export: the raw scans and the daily marts as Apache Iceberg tables partitioned by
day (pyiceberg, a SQL catalog in the stack's PostgreSQL), which `tillflow sql` queries with
DuckDB.

1. `plan_days` — the days the triggering ELT runs built, from the asset events' source runs:
   for a run over the UTC day D, the raw scans of D and the marts' dates D-1 .. D+1 (a store's
   business date spans two UTC dates); plus the `lookback_days` days before D (late days the
   run rebuilt). An event with no source run (set by hand) exports the lookback days alone.
2. `export` — for each table and day: `raw.pos_scans` by the scans' UTC event day,
   `marts.daily_sales_summary` by business date, `marts.suggestions_daily` by order date. A day
   whose warehouse rows equal (count and checksum) those of its last export is skipped and adds
   no snapshot; a changed day replaces its partition in one commit.

- **Schedule:** the `marts.*` assets, like `tillflow_dbt_docs`: a run follows each daily ELT
  run whose marts gate passed (backfills included).
- **Inputs:** the warehouse (connection `postgres_warehouse`).
- **Outputs:** the Iceberg tables in the catalog of connection `lakehouse_catalog` (its extra:
  the warehouse location and the S3 properties); the catalog's database is created if missing
  (connection `postgres_warehouse_admin`). XCom: each table-day's rows, whether it was written,
  the table's snapshot count and the seconds taken.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from tillflow import config
from tillflow_airflow.assets import MART_ASSETS

DEFAULT_ARGS = {"owner": "warehouse", "retries": 2, "retry_delay": timedelta(seconds=30)}
#: The ELT DAG whose runs' intervals name the days.
ELT_DAG = "tillflow_elt_daily"


@dag(
    dag_id="tillflow_lakehouse",
    schedule=MART_ASSETS,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "warehouse", "lakehouse", "iceberg"],
    doc_md=__doc__,
    params={
        "lookback_days": Param(
            2, type="integer", minimum=0, description="days before the ELT's day exported too"
        ),
    },
)
def tillflow_lakehouse() -> None:
    @task
    def plan_days() -> dict[str, Any]:
        from tillflow.jobs.lakehouse import days
        from tillflow_airflow.lakehouse import elt_intervals

        ctx = get_current_context()
        intervals = elt_intervals(ctx["triggering_asset_events"], ELT_DAG)
        logical = ctx.get("logical_date") or ctx["dag_run"].run_after
        plan = days.for_runs(
            intervals.values(), logical.date(), int(ctx["params"]["lookback_days"])
        )
        print(f"ELT runs: {sorted(intervals)}; plan: {plan.as_dict()}")
        return plan.as_dict()

    @task
    def export(plan: dict[str, Any]) -> list[dict[str, Any]]:
        from psycopg.conninfo import conninfo_to_dict

        from tillflow.adapters import iceberg
        from tillflow.jobs.lakehouse import days
        from tillflow.jobs.lakehouse import export as lake_export
        from tillflow_airflow.connections import lakehouse, postgres_dsn

        catalog_dsn, lake = lakehouse(config.CONN_LAKEHOUSE)
        owner = str(conninfo_to_dict(catalog_dsn)["user"])
        admin = postgres_dsn(config.CONN_WAREHOUSE_ADMIN)
        iceberg.ensure_catalog_database(admin, lake.catalog_database, owner)
        done = lake_export.export(
            postgres_dsn(config.CONN_WAREHOUSE),
            iceberg.open_catalog(catalog_dsn, lake),
            days.ExportPlan.from_dict(plan),
            progress=lambda r: print(r.line(), flush=True),
        )
        return [r.as_dict() for r in done]

    export(plan_days())


tillflow_lakehouse()
