"""Where a stage's CPU went: the machine's busy time and each service's share, read from /proc
at the stage's start and end (``CpuMeter``), and the ceilings those costs put on a rate.

On two cores the chain's stages share the machine: while a day is generated and ingested at
once, the generator, the broker, the Spark job and PostgreSQL all want the same cores. The
costs per scan measured here say how fast each side could go at most with the whole machine,
beside the rate it reached.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

from tillflow.adapters import procfs
from tillflow.config import Settings


def service_pids(settings: Settings) -> dict[str, int]:
    """The running services of the stack, by name (the registry's), with their pids."""
    from tillflow.runtime.registry import all_services, optional_services

    pids: dict[str, int] = {}
    for service in [*all_services(settings), *optional_services(settings)]:
        pid = service.pid()
        if pid is not None:
            pids[service.name] = pid
    return pids


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (a generator run as a subprocess)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Reading:
    busy: float
    idle: float
    children: float
    services: dict[str, float]


def read(pids: dict[str, int]) -> Reading:
    stats = procfs.pid_stats()
    roots = frozenset(pids.values())
    busy, idle = procfs.machine_cpu_seconds()
    services = {
        name: procfs.tree_cpu_seconds(pid, stats, roots - {pid}) for name, pid in pids.items()
    }
    return Reading(busy, idle, _children_cpu(), services)


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds spent between two readings: the machine's busy and available core-seconds,
    this process's subprocesses (``children``: the generator) and each service's tree."""

    busy: float
    available: float
    children: float
    services: dict[str, float]

    def of(self, *names: str) -> float:
        return sum(self.services.get(n, 0.0) for n in names)

    @property
    def other(self) -> float:
        return max(0.0, self.busy - self.children - sum(self.services.values()))


class CpuMeter:
    """``start()`` and ``stop()`` around a stage; services that restarted in between (a new
    pid) are counted from their new start."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._start: Reading | None = None
        self._pids: dict[str, int] = {}

    def start(self) -> None:
        self._pids = service_pids(self._settings)
        self._start = read(self._pids)

    def stop(self) -> CpuUse:
        assert self._start is not None, "start() first"
        now = service_pids(self._settings)
        same = {n: p for n, p in now.items() if self._pids.get(n) == p}
        end = read(now)
        begin = self._start
        services = {
            n: end.services.get(n, 0.0) - (begin.services.get(n, 0.0) if n in same else 0.0)
            for n in now
        }
        return CpuUse(
            busy=end.busy - begin.busy,
            available=(end.busy + end.idle) - (begin.busy + begin.idle),
            children=end.children - begin.children,
            services=services,
        )


def ingest_lines(use: CpuUse, scans: int, seconds: float) -> list[str]:
    """The ingest stage's CPU and the ceilings its costs per scan put on the rate."""
    cores = os.cpu_count() or 1
    generate = use.children + use.of("kafka")
    ingest = use.of("ingest", "postgres")
    rest = use.busy - generate - ingest
    lines = [
        f"CPU over the ingest stage ({seconds:.0f} s, {cores} cores): busy {use.busy:,.0f} of"
        f" {use.available:,.0f} core-seconds ({use.busy / max(use.available, 1e-9):.0%});"
        f" generator {use.children:,.0f}, broker {use.of('kafka'):,.0f}, Spark ingestion"
        f" {use.of('ingest'):,.0f}, PostgreSQL (warehouse server) {use.of('postgres'):,.0f}, the rest"
        f" of the stack {rest:,.0f} (outside every service {use.other:,.0f})"
    ]
    if scans > 0 and ingest > 0:
        per_m = 1e6 / scans
        lines.append(
            f"per million scans: generation and broker {generate * per_m:,.1f} core-s,"
            f" ingestion (Spark + PostgreSQL) {ingest * per_m:,.1f} core-s"
        )
        lines.append(
            f"limits these costs set on {cores} cores: ingestion with the machine to itself"
            f" {cores * scans / ingest:,.0f} scans/s; generated and ingested at once"
            f" {cores * scans / (generate + ingest):,.0f} scans/s"
        )
    return lines
