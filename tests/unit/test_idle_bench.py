"""The idle bench's counters: a process group's CPU ticks grow with the work its processes do."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tillflow_bench import idle

pytestmark = pytest.mark.unit

SPIN = "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"


def test_a_busy_group_gains_ticks_a_sleeping_one_does_not() -> None:
    busy = subprocess.Popen([sys.executable, "-c", SPIN], start_new_session=True)
    sleeper = subprocess.Popen(["sleep", "2"], start_new_session=True)
    try:
        time.sleep(0.2)
        before = idle.group_ticks(busy.pid), idle.group_ticks(sleeper.pid)
        time.sleep(0.8)
        after = idle.group_ticks(busy.pid), idle.group_ticks(sleeper.pid)
    finally:
        busy.kill()
        sleeper.kill()
        busy.wait(10)
        sleeper.wait(10)
    hz = os.sysconf("SC_CLK_TCK")
    spun, slept = after[0] - before[0], after[1] - before[1]
    # A spinning process gets a share of a core even on a busy machine; a sleeping one none.
    assert spun >= 0.05 * hz and spun > slept, (spun, slept)
    assert slept <= 0.02 * hz, slept


def test_a_group_with_no_process_counts_nothing() -> None:
    gone = subprocess.Popen(["true"], start_new_session=True)
    gone.wait(10)
    assert idle.group_ticks(gone.pid) == 0


def test_the_machine_counters_are_consistent() -> None:
    busy, total = idle.machine_ticks()
    assert 0 <= busy <= total


def test_a_child_that_leads_its_own_group_counts_for_its_parent_service() -> None:
    # Like PostgreSQL's postmaster and a backend: the child calls setsid, so the parent's process
    # group no longer holds it. The group alone (the old count) misses its CPU.
    forks = (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {SPIN!r}], start_new_session=True)\n"
        "time.sleep(3)"
    )
    leader = subprocess.Popen([sys.executable, "-c", forks], start_new_session=True)
    try:
        time.sleep(0.4)
        before = idle.group_ticks(leader.pid), idle.group_ticks(leader.pid, leader.pid)
        time.sleep(0.8)
        after = idle.group_ticks(leader.pid), idle.group_ticks(leader.pid, leader.pid)
    finally:
        leader.kill()
        leader.wait(10)
    hz = os.sysconf("SC_CLK_TCK")
    group_only, with_children = after[0] - before[0], after[1] - before[1]
    assert group_only <= 0.02 * hz, group_only
    assert with_children >= 0.05 * hz, with_children
