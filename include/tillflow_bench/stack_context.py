"""What a bench ran beside: the stack's running services and their idle baseline, measured first.

The latency benches run against the stack as `make up` leaves it (every service up); before the
first run they measure the stack's idle CPU over a short window (``idle.measure``) and print it
with the machine's load, so every figure comes with what else was running. ``--bare`` keeps the
older mode: only PostgreSQL, the broker and Redis run during the bench (the other services are
stopped for it and started again after it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tillflow.config import Settings
from tillflow.runtime import manager
from tillflow.runtime.registry import all_services
from tillflow_bench import idle

#: The services a bare bench keeps: what the benches themselves talk to.
BARE = ("postgres", "kafka", "redis")


@dataclass(frozen=True)
class StackContext:
    services: tuple[str, ...]  # running during the bench
    seconds: float
    idle_share: float  # the stack's CPU over the window, of the whole machine
    machine_busy: float
    load: tuple[float, float, float]

    def line(self) -> str:
        mode = "bare" if set(self.services) <= set(BARE) else "whole stack"
        return (
            f"stack ({mode}): {len(self.services)} services running; idle baseline "
            f"{100 * self.idle_share:.2f} % of the machine over {self.seconds:.0f} s (machine busy "
            f"{100 * self.machine_busy:.2f} %); load {self.load[0]:.2f} / {self.load[1]:.2f} / "
            f"{self.load[2]:.2f}"
        )


def running(settings: Settings) -> list[str]:
    return [s.name for s in all_services(settings) if s.pid() is not None]


def measure(settings: Settings, seconds: float) -> StackContext:
    rows, machine = idle.measure(settings, seconds)
    return StackContext(
        services=tuple(r.name for r in rows),
        seconds=seconds,
        idle_share=sum(r.share for r in rows),
        machine_busy=machine,
        load=os.getloadavg(),
    )


@contextlib.contextmanager
def bench_stack(
    settings: Settings, bare: bool, baseline_seconds: float, echo: Callable[[str], None] = print
) -> Iterator[StackContext]:
    """Measure (and print) the baseline; with ``bare``, stop everything but ``BARE`` first and
    start it again afterwards, also when the bench fails."""
    missing = [name for name in BARE if name not in running(settings)]
    if missing:
        raise SystemExit(f"bench: {', '.join(missing)} not running: `make up` first")
    stopped: list[str] = []
    if bare:
        stopped = [name for name in running(settings) if name not in BARE]
        if stopped:
            echo(f"bare mode: stopping {', '.join(stopped)} for the bench")
            manager.down(settings, stopped, echo=lambda *_: None)
    try:
        context = measure(settings, baseline_seconds)
        echo(context.line())
        yield context
    finally:
        if stopped:
            echo(f"bare mode: starting {', '.join(stopped)} again")
            manager.up(settings, stopped, echo=lambda *_: None)
