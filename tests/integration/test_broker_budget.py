"""The local broker within its memory budget, on an isolated stack (PostgreSQL, the broker and
the supervisor with a 48 MB budget, their own state folder and ports).

A producer sends a million scans through the generators' sink while ingestion (the plain
engine, job ``ingest``) reads them. The broker's RSS reaches the point where the keeper holds
producers back; once ingestion has read everything, the broker restarts empty and the producer
goes on. Then every scan landed exactly once, nothing was lost with a recycled broker, and the
broker's RSS never passed its budget (sampled every 0.1 s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.integration.isolated import free_port, run_tillflow
from tillflow import config
from tillflow.adapters.warehouse import ensure_schema
from tillflow.config import Settings
from tillflow.domain.events import samples
from tillflow.jobs.generators.scans import KafkaSink
from tillflow.jobs.ingest import plain
from tillflow.runtime.broker_keeper import rss_bytes
from tillflow.runtime.process import read_pid

pytestmark = pytest.mark.integration

BUDGET_MB = 48
SCANS = 1_000_000
CHUNK = 50_000


@pytest.fixture
def small_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    env = {
        "TILLFLOW_HOME": str(tmp_path / "state"),
        "TILLFLOW_PG_PORT": str(free_port()),
        "TILLFLOW_OLTP_PG_PORT": str(free_port()),
        "TILLFLOW_KAFKA_PORT": str(free_port()),
        "TILLFLOW_REDIS_PORT": str(free_port()),
        "TILLFLOW_AIRFLOW_PORT": str(free_port()),
        "TILLFLOW_KAFKA_MEMORY_BUDGET_MB": str(BUDGET_MB),
        "TILLFLOW_SUPERVISE_INTERVAL": "0.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    full = dict(os.environ)
    up = run_tillflow(full, "up", "postgres", "kafka", "supervisor")
    assert up.returncode == 0, up.stdout + up.stderr
    settings = Settings.from_env()
    ensure_schema(settings)
    yield settings
    run_tillflow(full, "down")


def test_the_broker_is_recycled_within_its_budget_and_nothing_is_lost(
    small_stack: Settings,
) -> None:
    settings = small_stack
    topic = config.TOPICS.scans
    dsn = settings.postgres.dsn(config.DB_WAREHOUSE, settings.postgres.ingest)
    pid_file = settings.run_dir / "kafka.pid"
    peak = 0
    done = threading.Event()
    errors: list[BaseException] = []

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            pid = read_pid(pid_file)
            if pid is not None:
                peak = max(peak, rss_bytes(pid))
            time.sleep(0.1)

    sink = KafkaSink(settings.kafka.connection, topic, pressure_dir=settings.run_dir)

    def produce() -> None:
        try:
            stamp = samples.iso_ms(dt.datetime.now(dt.UTC))
            for start in range(0, SCANS, CHUNK):
                ids = np.arange(start, start + CHUNK)
                sink.send([samples.scan(int(i), stamp) for i in ids], 1 + ids % 1000)
            sink.close()
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    sampler = threading.Thread(target=sample, daemon=True)
    producer = threading.Thread(target=produce, daemon=True)
    sampler.start()
    producer.start()
    # Ingestion reads until the producer is done and everything landed; a run that meets a
    # recycled broker stops (its records were all read: the keeper waits for that) and the
    # next run starts the new incarnation.
    deadline = time.monotonic() + 600
    runs = 0
    while time.monotonic() < deadline:
        runs += 1
        try:
            plain.run(settings.kafka.connection, [topic], dsn, "ingest",
                      kinds={topic: "scans"}, idle_seconds=2.0, deadline_seconds=120)  # fmt: skip
        except Exception as exc:  # the broker went away under the run: run again
            if "restarted" not in str(exc) and "Broker" not in str(exc):
                raise
        if not producer.is_alive() and _landed(dsn) >= SCANS:
            break
    done.set()
    producer.join(10)
    assert not errors, errors

    with psycopg.connect(dsn) as conn:
        rows, distinct = conn.execute(
            "select count(*), count(distinct scan_id) from raw.pos_scans"
        ).fetchone() or (0, 0)
        lost = conn.execute("select coalesce(sum(records), 0) from ops.ingest_losses").fetchone()
        epochs = conn.execute("select count(*) from ops.broker_epochs").fetchone()
    state = json.loads((settings.run_dir / "supervisor.json").read_text())
    broker = state["broker"]
    # Then the broker was recycled at least once, the producer was held back meanwhile
    assert broker["recycles"] >= 1 and epochs and epochs[0] == broker["recycles"] + 1, broker
    assert sink.held_seconds > 0
    # And every scan landed exactly once, nothing was lost with a recycled broker
    assert (rows, distinct) == (SCANS, SCANS)
    assert lost == (0,)
    # And the broker's RSS never passed its budget
    print(f"broker peak RSS {peak / 2**20:.1f} MB of {BUDGET_MB} MB, recycles {runs}")
    assert 0 < peak <= BUDGET_MB << 20, (peak >> 20, runs)


def _landed(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select count(*) from raw.pos_scans").fetchone()
    return int(row[0]) if row else 0
