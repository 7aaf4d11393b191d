"""``tillflow bench ingest-pg-restart``: PostgreSQL stopped and started again under a running job.

The continuous job lands ``count`` scans; once a fifth of them is in raw the stack's PostgreSQL is
stopped (``tillflow down postgres``: a fast shutdown that rolls back the chunk in flight), kept
down, and started again. Nobody touches the job: it must get through by itself (the sink retries
its connection, the query restarts from the commit log when the driver's reads fail) and land the
rest, each scan exactly once, compared by id set.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from tillflow.config import Settings
from tillflow_bench import ingest as bench


@dataclass
class RestartResult:
    produced: int
    landed_at_stop: int
    down_seconds: float
    query_restarts: int
    recovered_seconds: float  # PostgreSQL back up -> every scan in raw
    landed_rows: int
    distinct_ids: int
    missing: int
    duplicated: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicated == 0 and self.landed_rows == self.produced


def _landed(dsn: str, topic: str) -> int | None:
    """Rows landed so far, or None while the database is away."""
    import psycopg

    try:
        return bench.landed_count(dsn, topic)
    except psycopg.OperationalError:
        return None


def _quiet(*_: object) -> None:
    """The stack manager's progress lines are not this report's."""


def run(
    settings: Settings,
    count: int = 1_000_000,
    down_seconds: float = 15.0,
    stop_fraction: float = 0.2,
    timeout: float = 600.0,
    log: Any = print,
) -> RestartResult:
    from tillflow.runtime import manager

    (pg,) = manager.status(settings, ["postgres"])
    if pg.state == "external":
        raise RuntimeError(
            "PostgreSQL is external (TILLFLOW_POSTGRES_EXTERNAL=1): this drill stops and starts"
            " the stack's own server only"
        )
    if pg.state != "running":
        raise RuntimeError("PostgreSQL is not running: tillflow up postgres kafka first")
    bench.ensure_schema(settings)
    dsn = bench.warehouse_dsn(settings)
    topic = f"test.scans.pgrestart.{uuid.uuid4().hex[:8]}"
    job = f"pgrestart-{topic.rsplit('.', 1)[-1]}"
    t0 = time.monotonic()
    bench.produce_scans(settings.kafka.connection, topic, count)
    log(f"produced {count:,} scans to {topic}")
    checkpoint = settings.home / "spark" / "checkpoints" / job
    cmd = bench.drill_command(topic, job, checkpoint)
    log_path = settings.log_dir / f"{job}.log"
    proc = bench.start_job(cmd, log_path)
    try:
        deadline = time.monotonic() + timeout
        at_stop = 0
        while at_stop < count * stop_fraction:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the job did not get going; see {log_path}")
            time.sleep(0.1)
            at_stop = bench.landed_count(dsn, topic)
        manager.down(settings, ["postgres"], echo=_quiet)
        log(f"PostgreSQL stopped with {at_stop:,} of {count:,} landed; down {down_seconds:.0f}s")
        time.sleep(down_seconds)
        manager.up(settings, ["postgres"], echo=_quiet)
        back = time.monotonic()
        log("PostgreSQL started again; waiting for the job to land the rest by itself")
        landed: int | None = 0
        while (landed is None or landed < count) and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the job exited (code {proc.returncode}); see {log_path}")
            time.sleep(0.5)
            landed = _landed(dsn, topic)
        recovered = time.monotonic() - back
        rows, distinct, missing, dup = bench.id_check(dsn, topic, count)
    finally:
        bench.kill_job(proc)
        bench.discard(settings, dsn, topic, job)
    restarts = log_path.read_text(errors="replace").count("; restart ")
    return RestartResult(
        count,
        at_stop,
        down_seconds,
        restarts,
        recovered,
        rows,
        distinct,
        missing,
        dup,
        time.monotonic() - t0,
    )
