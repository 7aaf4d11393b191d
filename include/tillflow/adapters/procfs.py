"""Processes as /proc shows them: whether a pid runs, and its stat fields. Below the runtime,
so that any layer (the runtime's process management, a producer reading a signal file) checks
a pid the same way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    fields = proc_stat(pid)
    return fields is not None and fields[STAT_STATE] != "Z"


#: Indexes into ``proc_stat``'s fields (/proc/<pid>/stat after the command name, so field N of
#: proc(5) is index N - 3).
STAT_STATE, STAT_PGRP, STAT_UTIME, STAT_STIME, STAT_STARTTIME = 0, 2, 11, 12, 19


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces), or None
    when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def proc_stats() -> Iterator[list[str]]:
    """``proc_stat`` of every process of the machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(entry.name)
            if fields is not None:
                yield fields
