"""A broker killed with SIGKILL mid-stream, against a broker of the test's own (its own state
folder and port, started by `tillflow up kafka`) and the stack's warehouse.

The continuous Spark job is reading when the broker dies; a new broker (a new cluster id: a new
incarnation) takes its place. Then the new events land exactly once under a new epoch, what the
old broker held that ingestion never read is counted in ``ops.ingest_losses`` and shown by
`tillflow status`. Before epochs, the commit log's
offsets of the old broker stopped every read of the new one ("no records past N").
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.integration.isolated import free_port, run_tillflow
from tillflow.config import Settings
from tillflow.domain.events.coordinates import EPOCH_SHIFT
from tillflow.runtime.process import read_pid
from tillflow_bench import ingest as bench

pytestmark = pytest.mark.integration

OLD, NEW = 20_000, 5_000


@pytest.fixture
def own_broker(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.update(TILLFLOW_HOME=str(tmp_path / "state"), TILLFLOW_KAFKA_PORT=str(free_port()))
    up = run_tillflow(env, "up", "kafka")
    assert up.returncode == 0, up.stdout + up.stderr
    # The jobs and clients below read the broker's port from the environment.
    monkeypatch.setenv("TILLFLOW_KAFKA_PORT", env["TILLFLOW_KAFKA_PORT"])
    yield env
    run_tillflow(env, "down")


def _one(dsn: str, sql: str, *args: object) -> tuple[object, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return tuple(row)


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s")


def test_a_killed_broker_is_a_new_epoch_and_its_unread_records_are_counted(
    stack: Settings, own_broker: dict[str, str]
) -> None:
    settings = Settings.from_env()  # the stack's warehouse, the test's broker
    dsn = bench.warehouse_dsn(stack)
    topic = f"test.scans.epoch.{uuid.uuid4().hex[:8]}"
    job = f"test-epoch-{topic[-8:]}"
    bench.ensure_schema(stack)
    proc: subprocess.Popen[bytes] | None = None
    try:
        # Given 20,000 scans in the broker, and the continuous job landing them in small batches
        bench.produce_scans(settings.kafka.connection, topic, OLD, partitions=2)
        cmd = bench.job_command(
            [f"{topic}:scans"],
            job,
            "continuous",
            stack.home / "spark" / "checkpoints" / job,
            ["--trigger-seconds", "0.5", "--max-offsets-per-trigger", "1000"],
        )
        proc = bench.start_job(cmd, stack.log_dir / f"{job}.log")
        _wait(lambda: bench.landed_count(dsn, topic) >= 2_000, 180, "the job landed nothing")

        # When the broker is killed with SIGKILL mid-stream and a new one starts in its place
        broker = read_pid(Path(own_broker["TILLFLOW_HOME"]) / "run" / "kafka.pid")
        assert broker is not None
        os.kill(broker, signal.SIGKILL)
        # (what was read before the kill lands within a micro-batch: then the count is final)
        time.sleep(5)
        landed_old = bench.landed_count(dsn, topic)
        assert 2_000 <= landed_old < OLD
        up = run_tillflow(own_broker, "up", "kafka")  # what the supervisor does for the stack's
        assert up.returncode == 0, up.stderr
        # And 5,000 new scans arrive, their broker offsets starting at 0 again
        bench.produce_scans(settings.kafka.connection, topic, NEW, start=OLD, partitions=2)

        # Then the same job, untouched (its query restarts itself), lands them
        _wait(
            lambda: bench.landed_count(dsn, topic) >= landed_old + NEW,
            240,
            f"the new incarnation's scans did not land ({bench.landed_count(dsn, topic)})",
        )
        assert proc.poll() is None
        bench.kill_job(proc)

        # Then the new scans landed exactly once, in a new epoch, beside the old ones
        rows, distinct, _, dup = bench.id_check(dsn, topic, OLD + NEW)
        assert (rows, distinct, dup) == (landed_old + NEW, landed_old + NEW, 0)
        _, _, missing_new, _ = bench.id_check(dsn, topic, NEW, start=OLD)
        assert missing_new == 0
        epochs = _one(
            dsn,
            "select count(distinct kafka_offset >> %s), min(kafka_offset >> %s),"
            " max(kafka_offset >> %s) from raw.pos_scans where kafka_topic = %s",
            EPOCH_SHIFT, EPOCH_SHIFT, EPOCH_SHIFT, topic,
        )  # fmt: skip
        assert epochs[0] == 2 and int(epochs[2]) > int(epochs[1])  # type: ignore[call-overload]

        # And what the killed broker held that was never read is counted, exactly
        (lost,) = _one(
            dsn, "select coalesce(sum(records), 0) from ops.ingest_losses where job = %s", job
        )
        assert lost == OLD - landed_old
        status = run_tillflow({**own_broker, "TILLFLOW_HOME": str(stack.home)}, "status")
        assert "ops.ingest_losses" in status.stdout, status.stdout

    finally:
        if proc is not None and proc.poll() is None:
            bench.kill_job(proc)
        bench.cleanup(dsn, [topic], [job])
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("delete from ops.ingest_losses where job = %s", (job,))
