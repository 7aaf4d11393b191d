"""`tillflow bench idle`: what the stack costs while nothing happens.

For each running service of the stack, the CPU time of its whole process group (the service's
process and every child it started: Airflow's task runners, Spark's workers) and of its children
that lead groups of their own (PostgreSQL's backends) over a window of N seconds with no traffic sent, as a share of the machine (all its
cores); beside it the machine's own busy share over the same window (/proc/stat), so whatever
runs outside the stack shows too. The target (issue: an idle stack that idles) is a total of at
most 5 % of the machine.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from tillflow.adapters import procfs
from tillflow.config import Settings
from tillflow.runtime.registry import all_services

TARGET_SHARE = 0.05


STAT_PPID = 1  # proc(5) field 4, in procfs.proc_stat's numbering


def in_service(fields: list[str], pgid: int, leader: int | None) -> bool:
    """A process belongs to a service when it is in the service's process group, or when the
    service's process ``leader`` forked it (PostgreSQL's backends call setsid, so counting the
    group alone leaves out every connection)."""
    return int(fields[procfs.STAT_PGRP]) == pgid or (
        leader is not None and int(fields[STAT_PPID]) == leader
    )


def group_ticks(pgid: int, leader: int | None = None) -> int:
    """utime + stime (clock ticks) of every live process of process group ``pgid`` and of
    ``leader``'s children that lead their own group."""
    return sum(
        int(f[procfs.STAT_UTIME]) + int(f[procfs.STAT_STIME])
        for f in procfs.proc_stats()
        if in_service(f, pgid, leader)
    )


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat's first line."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass(frozen=True)
class ServiceCpu:
    name: str
    pgid: int
    share: float  # of the whole machine


def measure(settings: Settings, seconds: float) -> tuple[list[ServiceCpu], float]:
    """Per-service CPU share of the machine over ``seconds``, and the machine's busy share."""
    groups: dict[str, tuple[int, int]] = {}  # name -> (pgid, the service's own pid)
    for service in all_services(settings):
        pid = service.pid()
        if pid is None:
            continue
        try:
            groups[service.name] = (os.getpgid(pid), pid)
        except ProcessLookupError:
            continue
    before = {name: group_ticks(*ids) for name, ids in groups.items()}
    busy0, total0 = machine_ticks()
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    busy1, total1 = machine_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    rows = [
        ServiceCpu(name, ids[0], (group_ticks(*ids) - before[name]) / hz / elapsed / cores)
        for name, ids in groups.items()
    ]
    machine = (busy1 - busy0) / max(total1 - total0, 1)
    return rows, machine


def run(settings: Settings, seconds: float = 60.0) -> int:
    print(f"bench idle: CPU of each service's process group over {seconds:.0f} s, no traffic sent")
    rows, machine = measure(settings, seconds)
    if not rows:
        print("  no service of the stack is running: `make up` first")
        return 1
    for row in sorted(rows, key=lambda r: -r.share):
        print(f"  {row.name:<24} {100 * row.share:6.2f} % of the machine  (pgid {row.pgid})")
    total = sum(r.share for r in rows)
    verdict = "ok" if total <= TARGET_SHARE else "OVER TARGET"
    print(
        f"  {'stack total':<24} {100 * total:6.2f} %  target <= {100 * TARGET_SHARE:.0f} %: {verdict}"
    )
    print(f"  {'machine busy':<24} {100 * machine:6.2f} %  ({os.cpu_count()} cores, /proc/stat)")
    return 0 if total <= TARGET_SHARE else 1
