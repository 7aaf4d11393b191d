"""One DAG run with `airflow dags test` against the running stack's real services."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tillflow.config import Settings

pytestmark = pytest.mark.e2e


def test_smoke_dag_runs_green_against_the_stack(stack: Settings) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tillflow.entrypoints.cli",
            "airflow",
            "dags",
            "test",
            "tillflow_smoke",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "state=success" in output, output[-3000:]
    for task_id in ("postgres_oltp", "postgres_warehouse", "kafka", "redis", "spark", "summary"):
        assert f"task_id={task_id}" in output
