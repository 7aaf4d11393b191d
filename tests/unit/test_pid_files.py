"""Pid files name a process by pid and start time: a stale file whose pid now belongs to another
process is never signalled (real short-lived `sleep` processes, no services)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tillflow.adapters import procfs
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
    assert not procfs.pid_alive(pid)
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


def test_a_killed_leaders_children_are_killed_as_leftovers_and_its_status_is_read(
    tmp_path: Path,
) -> None:
    # Given a spawned leader with a child of its own (as the scheduler has its workers)
    pid = process.spawn(
        ["sh", "-c", "sleep 30 & wait"], pid_file=tmp_path / "p.pid", log_file=tmp_path / "p.log"
    )
    deadline = time.monotonic() + 5
    while not process._group_alive(pid) or _members(pid) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # When the leader is killed with SIGKILL
    os.kill(pid, signal.SIGKILL)
    while process.exit_status(pid) is None:
        assert time.monotonic() < deadline + 5
        time.sleep(0.05)
    # Then its child is still there, until the leftovers are killed
    assert _members(pid) == 1
    assert process.kill_leftovers(pid) is True
    deadline = time.monotonic() + 5
    while process._group_alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert process.kill_leftovers(pid) is False
    assert process.describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


def _members(pgid: int) -> int:
    return sum(
        1
        for f in procfs.proc_stats()
        if f[procfs.STAT_STATE] != "Z" and int(f[procfs.STAT_PGRP]) == pgid
    )
