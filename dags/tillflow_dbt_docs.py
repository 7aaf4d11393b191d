"""
### tillflow_dbt_docs

The dbt docs site of the warehouse (models, columns, tests, lineage, and the catalog's row counts),
shown in the Airflow UI under Browse > dbt docs (the Cosmos docs plugin).

1. `dbt_docs` — `dbt docs generate` into the docs folder (`TILLFLOW_DBT_DOCS_DIR`; under
   `astro dev start` a volume the api-server serves).

- **Schedule:** the `marts.*` assets: a run follows each daily ELT run whose marts gate passed
  (`tillflow_elt_daily.gx_marts_gate` updates them), backfills included; the ELT itself no longer
  waits for the docs.
- **Inputs:** the warehouse's catalog (connection `postgres_warehouse`), the dbt project.
- **Outputs:** `index.html`, `manifest.json`, `catalog.json` in the docs folder; XCom: its path.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from tillflow import config
from tillflow_airflow.assets import MART_ASSETS

DEFAULT_ARGS = {"owner": "warehouse", "retries": 2, "retry_delay": timedelta(seconds=30)}


@dag(
    dag_id="tillflow_dbt_docs",
    schedule=MART_ASSETS,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "warehouse", "dbt", "docs"],
    doc_md=__doc__,
)
def tillflow_dbt_docs() -> None:
    @task
    def dbt_docs() -> str:
        from tillflow.jobs.elt import dbt as dbt_runner
        from tillflow_airflow.connections import postgres_dsn

        target = dbt_runner.docs_dir()
        return str(dbt_runner.generate_docs(postgres_dsn(config.CONN_WAREHOUSE), target))

    dbt_docs()


tillflow_dbt_docs()
