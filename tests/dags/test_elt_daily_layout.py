"""The daily ELT's Cosmos group runs as measured: one producer whose `dbt build` is a dbt process
of its own, as wide as `tillflow elt`, beside sensors that run dbt in-process when they must run
their own node; and the Airflow environment keeps Cosmos's per-event Variable backup and its
outside telemetry off (`tillflow bench elt-dag` shows what each of these costs)."""

from __future__ import annotations

import runpy
from typing import Any

import pytest

from tillflow import config
from tillflow.config import PROJECT_ROOT, Settings
from tillflow.runtime.airflow_env import airflow_env

pytestmark = pytest.mark.dags


@pytest.fixture(scope="module")
def dag() -> Any:
    return runpy.run_path(str(PROJECT_ROOT / "dags" / "tillflow_elt_daily.py"))["dag"]


def test_the_producer_runs_dbt_as_its_own_process_and_the_sensors_in_process(dag: Any) -> None:
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert producer.invocation_mode.name == "SUBPROCESS"
    sensors = [t for t in dag.tasks if "Watcher" in type(t).__name__ and t is not producer]
    assert sensors and {t.invocation_mode.name for t in sensors} == {"DBT_RUNNER"}


def test_the_build_runs_with_as_many_threads_as_tillflow_elt(dag: Any) -> None:
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert producer.profile_config.profile_mapping.profile_args["threads"] == config.dbt_threads()


def test_the_airflow_environment_turns_off_the_per_event_backup_and_telemetry() -> None:
    env = airflow_env(Settings.from_env(), base={})
    assert env["AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY"] == "False"
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"


def test_a_task_that_died_with_the_scheduler_is_retried_within_two_minutes() -> None:
    env = airflow_env(Settings.from_env(), base={})
    assert int(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) <= 120
