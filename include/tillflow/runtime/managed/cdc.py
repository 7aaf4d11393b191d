"""CDC as a managed process of the local stack (`tillflow up` starts it after the API)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tillflow.config import DB_OLTP, Settings
from tillflow.jobs.cdc.engine import java_home_problem
from tillflow.jobs.cdc.settings import CdcSettings
from tillflow.runtime import process
from tillflow.runtime.process import StackError
from tillflow.runtime.services import Bound, Endpoint, Service


class Cdc(Service):
    """``python -m tillflow.jobs.cdc``: healthy while its replication slot is being streamed."""

    name = "cdc"
    phase = 3
    port_setting = "TILLFLOW_OLTP_PG_PORT"
    external_setting = "TILLFLOW_CDC_EXTERNAL"
    health_timeout = 120.0  # JVM start plus, on the first start, a snapshot of the tables
    restart_unhealthy_after = 120.0  # alive but not streaming its slot

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.cdc = CdcSettings.from_env(settings)

    def endpoint(self) -> Endpoint:
        oltp = self.settings.postgres.oltp  # the server whose slot it streams
        return Bound(oltp.host, oltp.port, self.cdc.external)

    @property
    def address(self) -> str:
        base = f"slot {self.cdc.slot} -> {self.cdc.topic_prefix}.public.*"
        recovered = slot_recoveries(self.cdc.status_file)
        if not recovered:
            return base
        return f"{base}; slot lost and snapshotted again {recovered}x since CDC started"

    def preflight(self) -> None:
        problem = java_home_problem()
        if problem:
            raise StackError(problem)

    def healthy(self) -> bool:
        """The slot is active (a walsender streams it); for the local process, also its pid."""
        import psycopg

        if not self.external and self.pid() is None:
            return False
        pg = self.settings.postgres
        try:
            with psycopg.connect(pg.dsn(DB_OLTP, pg.api), connect_timeout=2) as conn:
                row = conn.execute(
                    "select active from pg_replication_slots where slot_name = %s",
                    (self.cdc.slot,),
                ).fetchone()
        except psycopg.Error:
            return False
        return bool(row and row[0])

    def start(self) -> None:
        self.cdc.state_dir.mkdir(parents=True, exist_ok=True)
        process.spawn(
            [sys.executable, "-m", "tillflow.jobs.cdc"],
            pid_file=self.pid_file,
            log_file=self.log_file,
            cwd=self.cdc.state_dir,
        )


def slot_recoveries(status_file: Path) -> int:
    """How often CDC found its slot invalidated and snapshotted again (its status file; 0 when
    there is none or it cannot be read)."""
    try:
        return int(json.loads(status_file.read_text()).get("slot_recoveries") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def cdc(settings: Settings) -> Service:
    return Cdc(settings)
