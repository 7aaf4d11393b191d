"""
### tillflow_housekeeping

Keeps a stack that runs for days within its disk: hourly, and safe to run at any time.

1. `rotate_stack_logs` — every `*.log` of the stack's log folder past `max_log_mb` is rotated
   (copied to `.1`, older copies shifted, `keep_logs` kept, then truncated in place: the processes
   keep writing to the same file);
2. `prune_task_logs` — Airflow's task logs not written for `task_log_days`;
3. `clean_airflow_metadata` — `airflow db clean` of the metadata older than `metadata_days`
   (runs, task instances, XComs, asset events, logs), without archive tables.

- **Schedule:** hourly (one run at a time); unpaused when first parsed.
- **Inputs:** the state folder (`TILLFLOW_HOME`: its `logs/`), Airflow's log folder; params below.
- **Outputs:** XComs: the logs rotated (bytes kept and bytes lost in the copy's moment), the task
  logs pruned (files, bytes), the tail of `airflow db clean`'s report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(minutes=2)}


@dag(
    dag_id="tillflow_housekeeping",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # On from the start: a stack left running needs it without anyone unpausing it.
    is_paused_upon_creation=False,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "operations"],
    doc_md=__doc__,
    params={
        "max_log_mb": Param(50, type="integer", minimum=1),
        "keep_logs": Param(3, type="integer", minimum=1),
        "task_log_days": Param(14, type="integer", minimum=1),
        "metadata_days": Param(30, type="integer", minimum=1),
    },
)
def tillflow_housekeeping() -> None:
    @task
    def rotate_stack_logs(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from tillflow.jobs.housekeeping.logs import rotate_stack_logs

        assert params is not None
        done = rotate_stack_logs(int(params["max_log_mb"]) * 1024**2, int(params["keep_logs"]))
        return [{"log": r.path.name, "kept": r.copied_bytes, "lost": r.lost_bytes} for r in done]

    @task
    def prune_task_logs(params: dict[str, Any] | None = None) -> dict[str, int]:
        from pathlib import Path

        from airflow.configuration import conf

        from tillflow.jobs.housekeeping.logs import prune_older_than

        assert params is not None
        folder = Path(conf.get("logging", "base_log_folder"))
        files, freed = prune_older_than(folder, float(params["task_log_days"]))
        return {"files": files, "bytes": freed}

    @task
    def clean_airflow_metadata(params: dict[str, Any] | None = None) -> str:
        from airflow.sdk import BaseHook

        from tillflow.jobs.housekeeping.airflow_metadata import clean, database_url

        assert params is not None
        conn = BaseHook.get_connection(config.CONN_AIRFLOW_METADATA)
        url = database_url(
            conn.host or "", conn.port or 5432, conn.login or "", conn.password or "",
            conn.schema or "",
        )  # fmt: skip
        return clean(int(params["metadata_days"]), url)

    rotate_stack_logs() >> prune_task_logs() >> clean_airflow_metadata()


tillflow_housekeeping()
