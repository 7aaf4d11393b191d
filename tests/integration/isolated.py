"""Helpers for tests that run a second, isolated stack (own state folder and ports)."""

from __future__ import annotations

import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
