"""Run one day of a scheduled DAG through the scheduler, as the only active run of it.

A test triggers the interval it needs and unpauses the DAG so the scheduler runs it. Unpausing
also lets the scheduler create the run its timetable has due: normally that is the latest
interval, which the tests trigger themselves, so it is not created twice. But a stack whose DAG
was parsed on the day before (a run that starts just before midnight UTC) has an older interval
due, and that scheduled run waits hours on its ingestion sensor while ``max_active_runs=1``
keeps the test's run queued behind it. So every other queued or running run of the DAG is marked
failed while the test's run is followed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tillflow.adapters.airflow_api import AirflowClient

#: The daily ELT's conf for a day the test has landed itself: no wait for a later day's scans.
NO_INGESTION_WAIT: dict[str, Any] = {"skip_ingestion_wait": True, "min_scans": 0}


def run_alone(
    client: AirflowClient,
    dag_id: str,
    day: datetime,
    conf: dict[str, Any] | None = None,
    timeout: float = 900,
) -> tuple[str, str]:
    """Run ``dag_id`` for the UTC day ``day`` through the scheduler (a new run; a finished one
    at that logical date is replaced) with the DAG unpaused meanwhile; its run id and final state."""

    def fail_the_others(_state: str, _tasks: dict[str, str]) -> None:
        for other in client.active_runs(dag_id):
            if other["dag_run_id"] != run_id:
                print(f"failing {dag_id} run {other['dag_run_id']}: it holds up {run_id}")
                client.set_run_state(dag_id, other["dag_run_id"], "failed")

    was_paused = client.is_paused(dag_id)
    interval = (day.isoformat(), (day + timedelta(days=1)).isoformat())
    run_id = client.run_interval(dag_id, *interval, conf=conf)
    client.unpause(dag_id)
    try:
        return run_id, client.wait_for_run(dag_id, run_id, timeout, progress=fail_the_others)
    finally:
        client.set_paused(dag_id, was_paused)
