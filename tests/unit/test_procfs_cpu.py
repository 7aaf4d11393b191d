"""CPU accounting from /proc (the bench's per-service CPU): real processes, no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tillflow.adapters import procfs

pytestmark = pytest.mark.unit

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def test_a_tree_counts_a_living_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.6) + "time.sleep(30)"])
    try:
        before = procfs.tree_cpu_seconds(os.getpid())
        time.sleep(1.5)  # the child burns 0.6 s of CPU, then sleeps, still alive
        spent = procfs.tree_cpu_seconds(os.getpid()) - before
        assert child.poll() is None
        assert spent >= 0.5, spent
    finally:
        child.kill()
        child.wait()


def test_a_tree_keeps_the_time_of_a_child_that_ended() -> None:
    before = procfs.tree_cpu_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", BURN.format(s=0.6)], check=True)
    # the child is gone: its time is in this process's cutime now
    assert procfs.tree_cpu_seconds(os.getpid()) - before >= 0.5


def test_another_tree_is_not_counted() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        other = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.6)])
        before = procfs.tree_cpu_seconds(child.pid)
        other.wait()
        assert procfs.tree_cpu_seconds(child.pid) - before < 0.2
    finally:
        child.kill()
        child.wait()


def test_a_pid_that_is_gone_spent_nothing() -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert procfs.tree_cpu_seconds(p.pid) == 0.0


def test_the_machine_is_busy_while_a_process_burns() -> None:
    busy0, idle0 = procfs.machine_cpu_seconds()
    t = time.process_time()
    while time.process_time() - t < 0.5:
        pass
    busy1, idle1 = procfs.machine_cpu_seconds()
    assert busy1 - busy0 >= 0.4
    assert idle1 >= idle0


def test_an_excluded_subtree_is_left_out() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN.format(s=0.6) + "time.sleep(30)"])
    try:
        before = procfs.tree_cpu_seconds(os.getpid(), exclude=frozenset({child.pid}))
        time.sleep(1.5)
        after = procfs.tree_cpu_seconds(os.getpid(), exclude=frozenset({child.pid}))
        assert after - before < 0.3
    finally:
        child.kill()
        child.wait()
