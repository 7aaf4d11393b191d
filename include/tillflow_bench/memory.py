"""`tillflow bench memory`: what each service of the running stack holds in memory.

For each running service, the proportional set size (PSS, from /proc/<pid>/smaps_rollup) of
every process of its process group: memory shared between processes (PostgreSQL's shared
buffers, a forked gunicorn worker) is divided among them, so the services add up to what the
stack really uses. RSS is printed beside it. Beside the total: the machine's memory and what the
kernel reports available (/proc/meminfo).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tillflow.adapters import procfs
from tillflow.config import Settings
from tillflow.runtime.registry import all_services
from tillflow_bench.idle import in_service


@dataclass(frozen=True)
class ServiceMemory:
    name: str
    processes: int
    pss_kb: int
    rss_kb: int


def _rollup(pid: str) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB; (0, 0) when it is gone or unreadable."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except (OSError, ValueError):
        return 0, 0
    return pss, rss


def group_memory(pid: int, pgid: int) -> tuple[int, int, int]:
    """(processes, PSS kB, RSS kB) of process group ``pgid`` and of the children of ``pid``
    that lead groups of their own (PostgreSQL's backends do)."""
    count = pss = rss = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = procfs.proc_stat(entry.name)
        if fields is None or not in_service(fields, pgid, pid):
            continue
        p, r = _rollup(entry.name)
        count, pss, rss = count + 1, pss + p, rss + r
    return count, pss, rss


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB."""
    values: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return values


def measure(settings: Settings) -> list[ServiceMemory]:
    rows = []
    for service in all_services(settings):
        pid = service.pid()
        if pid is None:
            continue
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        count, pss, rss = group_memory(pid, pgid)
        rows.append(ServiceMemory(service.name, count, pss, rss))
    return rows


def run(settings: Settings) -> int:
    rows = measure(settings)
    if not rows:
        print("bench memory: no service of the stack is running: `make up` first")
        return 1
    print("bench memory: PSS of each service's process group (shared pages divided among them)")
    for row in sorted(rows, key=lambda r: -r.pss_kb):
        print(
            f"  {row.name:<24} {row.pss_kb / 1024:8.0f} MB PSS  {row.rss_kb / 1024:8.0f} MB RSS"
            f"  ({row.processes} processes)"
        )
    total = sum(r.pss_kb for r in rows)
    info = meminfo()
    print(
        f"  {'stack total':<24} {total / 1024:8.0f} MB PSS  "
        f"({100 * total / info['MemTotal']:.1f} % of the machine's {info['MemTotal'] / 2**20:.1f} GB;"
        f" {info['MemAvailable'] / 2**20:.1f} GB available)"
    )
    return 0
