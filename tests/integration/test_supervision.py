"""The supervisor on an isolated stack (own state folder and ports): a service killed with
SIGKILL comes back on its own, `tillflow status` counts the restart and says how it ended, and a
service stopped on purpose with `tillflow down NAME` stays stopped."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.isolated import run_tillflow, second_stack_env
from tillflow.runtime.process import read_pid

pytestmark = pytest.mark.integration

SERVICES = ["kafka", "redis", "supervisor"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = second_stack_env(tmp_path / "state", TILLFLOW_SUPERVISE_INTERVAL="0.5")
    up = run_tillflow(env, "up", *SERVICES)
    assert up.returncode == 0, up.stdout + up.stderr
    yield env
    run_tillflow(env, "down")


def _pid(env: dict[str, str], name: str) -> int:
    pid = read_pid(Path(env["TILLFLOW_HOME"]) / "run" / f"{name}.pid")
    assert pid is not None, f"{name} is not running"
    return pid


def _row(env: dict[str, str], name: str) -> list[str]:
    out = run_tillflow(env, "status", name).stdout
    return next(line.split() for line in out.splitlines() if line.startswith(name + " "))


def _wait_running_again(env: dict[str, str], name: str, old_pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _row(env, name)
        if row[1] == "running" and row[2] != str(old_pid):
            return int(row[2])
        time.sleep(0.5)
    raise AssertionError(f"{name} did not come back within {timeout}s: {row}")


def test_a_killed_service_is_restarted_and_counted(stack: dict[str, str]) -> None:
    # Given the broker, started by `up`, under the supervisor
    first = _pid(stack, "kafka")

    # When it is killed with SIGKILL
    os.kill(first, signal.SIGKILL)

    # Then it runs again under a new pid, with one restart counted
    second = _wait_running_again(stack, "kafka", first, timeout=30)
    assert _row(stack, "kafka")[3] == "1"

    # When the restarted broker (now the supervisor's child) is killed again
    os.kill(second, signal.SIGKILL)
    _wait_running_again(stack, "kafka", second, timeout=30)

    # Then status counts two restarts and names the signal as the last exit
    status = run_tillflow(stack, "status").stdout
    assert _row(stack, "kafka")[3] == "2", status
    exits = status.split("last exits", 1)[1]
    assert "kafka" in exits and "killed by SIGKILL" in exits, status


def test_a_service_stopped_on_purpose_stays_stopped(stack: dict[str, str]) -> None:
    # Given Redis stopped with `down redis`
    assert run_tillflow(stack, "down", "redis").returncode == 0
    # When the supervisor has looked several times
    time.sleep(3)
    # Then Redis is still stopped, nothing restarted it
    row = _row(stack, "redis")
    assert row[1] == "stopped" and row[3] == "0", row
    # And `up redis` brings it back under supervision: a kill is restarted again
    assert run_tillflow(stack, "up", "redis").returncode == 0
    pid = _pid(stack, "redis")
    os.kill(pid, signal.SIGKILL)
    _wait_running_again(stack, "redis", pid, timeout=30)
