"""The supervisor as a managed process of the local stack: `tillflow up` starts it last.

It runs ``tillflow supervise`` (``runtime/supervisor.py``) and is healthy while its state file is
fresh. Set ``TILLFLOW_SUPERVISOR_EXTERNAL=1`` to leave restarts to something else (then `up` never
starts it; `tillflow status` still shows what a supervisor run elsewhere recorded).
"""

from __future__ import annotations

import sys
import time

from tillflow.config import Settings, _env_flag
from tillflow.runtime import process
from tillflow.runtime.services import Bound, Endpoint, Service
from tillflow.runtime.supervisor import read_state


class SupervisorService(Service):
    name = "supervisor"
    phase = 4  # after everything it supervises is up
    port_setting = "-"
    external_setting = "TILLFLOW_SUPERVISOR_EXTERNAL"
    health_timeout = 30.0

    def endpoint(self) -> Endpoint:
        return Bound("-", 0, _env_flag(self.external_setting))

    @property
    def interval(self) -> float:
        return self.settings.supervise_interval

    @property
    def address(self) -> str:
        return f"restarts what dies, every {self.interval:g}s (run/supervisor.json)"

    def preflight(self) -> None:
        """No port."""

    def healthy(self) -> bool:
        state = read_state(self.settings.run_dir)
        fresh = time.time() - float(state.get("ts", 0)) < 3 * self.interval + 10
        return fresh and state.get("pid") == self.pid()

    def start(self) -> None:
        process.spawn(
            [sys.executable, "-m", "tillflow.entrypoints.cli", "supervise"],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )


def supervisor(settings: Settings) -> Service:
    return SupervisorService(settings)
