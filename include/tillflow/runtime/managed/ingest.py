"""The continuous ingestion job as a managed process of the local stack (opt-in).

``tillflow up`` starts it when ``TILLFLOW_INGEST_CONTINUOUS=1`` (``runtime/registry.py``); it runs
``spark/ingest_job.py --mode continuous`` over every platform topic and is healthy once its
streaming query has started (the job writes ``run/ingest.ready`` holding its pid). It shares the
commit log with the catch-up DAG (job ``ingest``), so both may run: each chunk's transaction locks
the log rows and skips what the other landed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tillflow.config import Settings, _env_flag
from tillflow.runtime import process
from tillflow.runtime.services import Bound, Endpoint, Service

JOB = "ingest"


class Ingest(Service):
    name = "ingest"
    phase = 3
    port_setting = "TILLFLOW_KAFKA_PORT"
    external_setting = "TILLFLOW_INGEST_EXTERNAL"
    health_timeout = 180.0  # a Spark session and the first micro-batch
    restart_unhealthy_after = 120.0

    def endpoint(self) -> Endpoint:
        return Bound(
            self.settings.kafka.host,
            self.settings.kafka.port,
            _env_flag("TILLFLOW_INGEST_EXTERNAL"),
        )

    @property
    def address(self) -> str:
        return f"kafka {self.settings.kafka.bootstrap} -> warehouse raw (job {JOB})"

    @property
    def ready_file(self) -> Path:
        return self.settings.run_dir / "ingest.ready"

    def preflight(self) -> None:
        """The broker's port is in use by the broker itself: nothing to check here."""

    def healthy(self) -> bool:
        pid = self.pid()
        if pid is None or not self.ready_file.exists():
            return False
        return self.ready_file.read_text().strip() == str(pid)

    def start(self) -> None:
        from tillflow.adapters.warehouse import ensure_schema
        from tillflow.jobs.ingest.launcher import JOB_SCRIPT, job_env

        ensure_schema(self.settings)
        self.ready_file.unlink(missing_ok=True)
        env = job_env()
        env["TILLFLOW_INGEST_READY_FILE"] = str(self.ready_file)
        process.spawn(
            [
                sys.executable,
                str(JOB_SCRIPT),
                "--mode",
                "continuous",
                "--job",
                JOB,
                "--checkpoint",
                str(self.settings.home / "spark" / "checkpoints" / f"{JOB}-continuous"),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
            env=env,
        )


def ingest(settings: Settings) -> Service:
    return Ingest(settings)
