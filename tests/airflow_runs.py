"""Run one interval of a scheduled DAG through the scheduler, as the only active run of it.

A test triggers the interval it needs and unpauses the DAG so the scheduler runs it. Unpausing
also lets the scheduler create the run its timetable has due: normally that is the latest
interval, which the tests trigger themselves, so it is not created twice. But a stack whose DAG
was parsed on the day before (a run that starts just before midnight UTC) has an older interval
due, and that scheduled run waits hours on its ingestion sensor while ``max_active_runs=1``
keeps the test's run queued behind it. So every other queued or running run of the DAG is marked
failed while the test's run is followed.
"""

from __future__ import annotations

import time
from typing import Any

from tillflow.adapters.airflow_api import TERMINAL, AirflowApiError, AirflowClient


def run_alone(
    client: AirflowClient,
    dag_id: str,
    start: str,
    end: str,
    conf: dict[str, Any] | None = None,
    timeout: float = 900,
) -> tuple[str, str]:
    """Run ``dag_id`` for [start, end) through the scheduler (a new run, or the one at that
    logical date cleared) with the DAG unpaused meanwhile; its run id and final state."""
    was_paused = client.is_paused(dag_id)
    run_id = client.run_interval(dag_id, start, end, conf=conf)
    client.unpause(dag_id)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for other in client.active_runs(dag_id):
                if other["dag_run_id"] != run_id:
                    print(f"failing {dag_id} run {other['dag_run_id']}: it holds up {run_id}")
                    client.set_run_state(dag_id, other["dag_run_id"], "failed")
            state = client.run_state(dag_id, run_id)
            if state in TERMINAL:
                return run_id, state
            time.sleep(2)
        raise AirflowApiError(f"{dag_id} run {run_id} did not finish within {timeout:.0f}s")
    finally:
        client.set_paused(dag_id, was_paused)
