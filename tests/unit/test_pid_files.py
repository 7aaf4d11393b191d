"""Pid files name a process by pid and start time: a stale file whose pid now belongs to another
process is never signalled (real short-lived `sleep` processes, no services)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tillflow.runtime import process

pytestmark = pytest.mark.unit


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process this stack did not start (not a group leader), killed at the end."""
    proc = subprocess.Popen(["sleep", "30"])
    yield proc
    proc.kill()
    proc.wait(5)


def test_a_spawned_process_is_found_and_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "svc.pid"
    pid = process.spawn(["sleep", "30"], pid_file=pid_file, log_file=tmp_path / "svc.log")
    assert pid_file.read_text().split() == [str(pid), str(process.start_ticks(pid))]
    assert process.read_pid(pid_file) == pid
    assert process.stop_pid_file(pid_file, timeout=5)
    assert not process.pid_alive(pid)
    assert not pid_file.exists()


def test_a_reused_pid_is_not_the_process_the_file_names(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    # Given a pid file whose pid now belongs to a process that started at another time
    started = process.start_ticks(stranger.pid)
    assert started is not None
    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(f"{stranger.pid} {started + 1}\n")
    # Then it names no live process, and stopping it signals nothing
    assert process.read_pid(pid_file) is None
    assert process.stop_pid_file(pid_file, timeout=1) is False
    assert stranger.poll() is None, "the stranger was signalled"


def test_a_pid_only_file_must_name_a_group_leader(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(f"{stranger.pid}\n")  # the format before start times were written
    assert process.read_pid(pid_file) is None
    assert process.stop_pid_file(pid_file, timeout=1) is False
    assert stranger.poll() is None


def test_a_dead_or_garbled_pid_file_names_nothing(tmp_path: Path) -> None:
    pid_file = tmp_path / "svc.pid"
    for text in ("", "abc\n", "999999999 1\n"):
        pid_file.write_text(text)
        assert process.read_pid(pid_file) is None
