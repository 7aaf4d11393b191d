"""`tillflow up/down/status` on a second, isolated stack (own state folder and ports), so the
shared stack the other tests use is never disturbed. Airflow is left out to keep this quick; its
components go through the same code paths."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.isolated import run_tillflow, second_stack_env
from tillflow.adapters.procfs import pid_alive
from tillflow.runtime.process import port_in_use

pytestmark = pytest.mark.integration

CORE = ["postgres", "kafka", "redis"]


@pytest.fixture
def isolated_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = second_stack_env(tmp_path / "state")
    yield env
    run_tillflow(env, "down")


def _pids(state: Path) -> list[int]:
    # A pid file holds the pid, then the process's start time (runtime.process.write_pid_file).
    pids = [int(p.read_text().split()[0]) for p in (state / "run").glob("*.pid")]
    pm = state / "postgres" / "data" / "postmaster.pid"
    if pm.exists():
        pids.append(int(pm.read_text().splitlines()[0]))
    return pids


def test_up_twice_changes_nothing_and_down_leaves_nothing(isolated_env: dict[str, str]) -> None:
    state = Path(isolated_env["TILLFLOW_HOME"])
    # Given a stack brought up once
    first = run_tillflow(isolated_env, "up", *CORE)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" started ") == 3
    pids = _pids(state)
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)

    # When `up` runs again, then nothing is started and the processes are the same
    second = run_tillflow(isolated_env, "up", *CORE)
    assert second.returncode == 0, second.stderr
    assert " started " not in second.stdout and second.stdout.count("(unchanged)") == 3
    assert _pids(state) == pids

    status = run_tillflow(isolated_env, "status", *CORE)
    assert status.stdout.count(" running ") == 3

    # When `down` runs, then no process of the stack is left and every port is free again
    down = run_tillflow(isolated_env, "down")
    assert down.returncode == 0
    assert not any(pid_alive(p) for p in pids)
    for var in ("TILLFLOW_PG_PORT", "TILLFLOW_KAFKA_PORT", "TILLFLOW_REDIS_PORT"):
        assert not port_in_use("127.0.0.1", int(isolated_env[var])), var
    after = run_tillflow(isolated_env, "status", *CORE)
    assert after.stdout.count(" stopped ") == 3 and " running " not in after.stdout


@pytest.mark.parametrize(
    ("service", "port_var"),
    [("redis", "TILLFLOW_REDIS_PORT"), ("kafka", "TILLFLOW_KAFKA_PORT")],
)
def test_a_taken_port_fails_with_one_line_naming_the_setting(
    isolated_env: dict[str, str], service: str, port_var: str
) -> None:
    # Given another process listening on the service's port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(isolated_env[port_var])))
        squatter.listen()
        # When the stack is brought up
        result = run_tillflow(isolated_env, "up", service)
    # Then it fails with exactly one line that names the port and the setting
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert isolated_env[port_var] in lines[0] and port_var in lines[0]


def test_an_external_service_is_not_started(isolated_env: dict[str, str]) -> None:
    # Given Redis marked external but pointing at nothing
    env = {**isolated_env, "TILLFLOW_REDIS_EXTERNAL": "1"}
    result = run_tillflow(env, "up", "redis")
    # Then `up` starts nothing and says the external server is unreachable, naming the setting
    assert result.returncode == 2
    assert "TILLFLOW_REDIS_EXTERNAL" in result.stderr
    assert not list((Path(env["TILLFLOW_HOME"]) / "run").glob("redis.pid"))
