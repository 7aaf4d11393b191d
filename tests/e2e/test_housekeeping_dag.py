"""The housekeeping DAG against the running stack: a stack log past the limit is rotated by the
DAG's run (`airflow dags test`), the live file truncated, its content kept in `.1`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tillflow.config import Settings

pytestmark = pytest.mark.e2e

DAG_ID = "tillflow_housekeeping"


def test_housekeeping_rotates_a_big_stack_log(stack: Settings) -> None:
    log = stack.log_dir / "e2e-housekeeping.log"
    log.write_bytes(b"x" * (2 * 1024**2))
    try:
        conf = json.dumps({"max_log_mb": 1})
        cmd = [sys.executable, "-m", "tillflow.entrypoints.cli", "airflow", "dags", "test",
               "tillflow_housekeeping", "-c", conf]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "state=success" in output, output[-3000:]
        assert log.stat().st_size == 0
        assert log.with_name(log.name + ".1").stat().st_size == 2 * 1024**2
    finally:
        for path in stack.log_dir.glob("e2e-housekeeping.log*"):
            path.unlink()


def test_a_run_through_the_scheduler_cleans_the_metadata(stack: Settings) -> None:
    """Through the scheduler, unlike `airflow dags test`: the task process has its metadata
    connection blocked by Airflow 3, so `airflow db clean` needs the connection of its own."""
    from tillflow.adapters.airflow_api import AirflowClient

    af = stack.airflow
    client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
    try:
        client.wait_for_dag(DAG_ID)
        run_id = client.trigger(DAG_ID, {"max_log_mb": 1024})
        client.unpause(DAG_ID)
        state = client.wait_for_run(DAG_ID, run_id, timeout=600)
        tasks = client.task_states(DAG_ID, run_id)
        assert state == "success", tasks
        report = str(client.xcom(DAG_ID, run_id, "clean_airflow_metadata"))
        assert "Checking table" in report or "rows" in report, report
    finally:
        client.close()
