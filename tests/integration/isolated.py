"""Helpers for tests that run a second, isolated stack (own state folder and ports)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def second_stack_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a second stack: its own state folder and free ports."""
    env = dict(os.environ)
    env.update(
        TILLFLOW_HOME=str(home),
        TILLFLOW_PG_PORT=str(free_port()),
        TILLFLOW_OLTP_PG_PORT=str(free_port()),
        TILLFLOW_KAFKA_PORT=str(free_port()),
        TILLFLOW_REDIS_PORT=str(free_port()),
        TILLFLOW_AIRFLOW_PORT=str(free_port()),
        **extra,
    )
    return env


def run_tillflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``tillflow ARGS`` in a subprocess with ``env`` (bounded: 180 s)."""
    return subprocess.run(
        [sys.executable, "-m", "tillflow.entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
