"""The chain as a managed process of the local stack: `tillflow run` plans it
(``run/chain.json``) and `up` then starts it, with the continuous ingestion, until
`tillflow run --stop` (``jobs/chain.py`` says what it runs). Healthy while it saves its position
(every second)."""

from __future__ import annotations

import sys
import time

from tillflow.config import Settings
from tillflow.jobs.chain import state_file
from tillflow.runtime import process
from tillflow.runtime.services import Bound, Endpoint, Service


class ChainService(Service):
    name = "chain"
    phase = 3
    port_setting = "-"
    external_setting = "-"
    health_timeout = 60.0
    restart_unhealthy_after = 120.0

    def endpoint(self) -> Endpoint:
        return Bound("-", 0, False)

    @property
    def address(self) -> str:
        from tillflow.jobs.chain import ChainState

        state = ChainState.load(state_file(self.settings))
        if state is None:
            return "not planned (tillflow run)"
        return (
            f"simulated {state.position:%Y-%m-%d %H:%M:%S} UTC, x{state.plan.speedup:g},"
            f" {state.orders_posted:,} orders, ELT days {len(state.elt_days)}"
        )

    def preflight(self) -> None:
        """No port."""

    def healthy(self) -> bool:
        try:
            fresh = time.time() - state_file(self.settings).stat().st_mtime < 30
        except OSError:
            return False
        return fresh and self.running()

    def start(self) -> None:
        process.spawn(
            [sys.executable, "-m", "tillflow.entrypoints.cli", "run", "--serve"],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )


def chain(settings: Settings) -> Service:
    return ChainService(settings)


def chain_planned(settings: Settings) -> bool:
    return state_file(settings).exists()
