"""The suggestion service as a managed process of the local stack (`tillflow up|down|status`).

It has no port: it is healthy while its heartbeat file is fresh (the service rewrites it every
second, also while it waits for the OLTP tables or the order topic). Set
``TILLFLOW_SUGGESTIONS_EXTERNAL=1`` when it runs elsewhere (then `up` never starts it).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tillflow.adapters import procfs
from tillflow.jobs.suggestions.consumer import read_heartbeat
from tillflow.runtime import process
from tillflow.runtime.services import Bound, Endpoint, Service

#: A heartbeat older than this many seconds means unhealthy.
STALE_AFTER = 10.0
#: A batch the writer has held this long means a stuck service, however fresh its heartbeat.
STUCK_AFTER = 30.0


class SuggestionService(Service):
    name = "suggestions"
    phase = 3
    port_setting = "-"
    external_setting = "TILLFLOW_SUGGESTIONS_EXTERNAL"
    health_timeout = 60.0
    restart_unhealthy_after = 60.0  # a stale heartbeat or a batch stuck in flight

    def endpoint(self) -> Endpoint:
        return Bound(
            "-", 0, os.environ.get(self.external_setting, "0").lower() in {"1", "true", "yes", "on"}
        )

    @property
    def address(self) -> str:
        return f"{self.settings.kafka.bootstrap} -> {self.settings.topics.suggestions_accepted}"

    @property
    def heartbeat_file(self) -> Path:
        return self.settings.run_dir / "suggestions.heartbeat"

    def preflight(self) -> None:
        """No port to check; Kafka, Redis and PostgreSQL are earlier phases of `up`."""

    def healthy(self) -> bool:
        beat = read_heartbeat(self.heartbeat_file)
        if beat is None or time.time() - float(beat.get("ts", 0)) > STALE_AFTER:
            return False
        if float(beat.get("oldest_in_flight_s") or 0) > STUCK_AFTER:
            return False
        return self.external or procfs.pid_alive(int(beat.get("pid", 0)))

    def start(self) -> None:
        self.heartbeat_file.unlink(missing_ok=True)
        process.spawn(
            [
                sys.executable,
                "-m",
                "tillflow.jobs.suggestions.consumer",
                "--heartbeat",
                str(self.heartbeat_file),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )
