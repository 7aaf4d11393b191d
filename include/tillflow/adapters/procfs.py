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


def pid_stats() -> dict[int, list[str]]:
    """``proc_stat`` of every process of the machine, by pid."""
    out: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(entry.name)
            if fields is not None:
                out[int(entry.name)] = fields
    return out


def proc_stats() -> Iterator[list[str]]:
    """``proc_stat`` of every process of the machine."""
    yield from pid_stats().values()


#: More indexes into ``proc_stat``'s fields: the parent's pid, and the CPU of waited-for
#: children (proc(5) fields 4, 16 and 17).
STAT_PPID, STAT_CUTIME, STAT_CSTIME = 1, 13, 14
_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(
    root: int, stats: dict[int, list[str]] | None = None, exclude: frozenset[int] = frozenset()
) -> float:
    """CPU seconds (user + system) of ``root`` and every living descendant, their waited-for
    children included: a process that ended meanwhile moved its time into its parent's
    ``cutime``, so the difference of two readings is what the tree spent between them.
    ``stats``: one reading of ``pid_stats()`` to share between trees; ``exclude``: roots of
    other trees (a supervisor's restarted services) left out with their descendants."""
    table = stats if stats is not None else pid_stats()
    if root not in table:
        return 0.0
    children: dict[int, list[int]] = {}
    for pid, fields in table.items():
        children.setdefault(int(fields[STAT_PPID]), []).append(pid)
    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        fields = table[pid]
        ticks += sum(int(fields[i]) for i in (STAT_UTIME, STAT_STIME, STAT_CUTIME, STAT_CSTIME))
        todo.extend(c for c in children.get(pid, []) if c not in exclude)
    return ticks / _TICKS


def machine_cpu_seconds() -> tuple[float, float]:
    """The machine's busy and idle CPU seconds since boot, summed over its cores (/proc/stat;
    iowait counts as idle)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / _TICKS, idle / _TICKS
