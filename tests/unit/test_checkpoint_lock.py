"""One ingestion query per checkpoint: the lock file beside a local checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tillflow.jobs.ingest import checkpoints


def test_a_second_job_on_the_same_checkpoint_is_refused_with_the_holder(tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "checkpoints" / "ingest")
    with checkpoints.hold(checkpoint):
        busy = pytest.raises(checkpoints.CheckpointBusy, match=f"pid {os.getpid()}")
        with busy, checkpoints.hold(checkpoint):
            pass
        # another checkpoint is another lock
        with checkpoints.hold(str(tmp_path / "checkpoints" / "ingest-continuous")):
            pass
    with checkpoints.hold(checkpoint):  # released at the end of the block
        pass


def test_the_lock_sits_inside_a_local_checkpoint_and_not_on_a_cluster() -> None:
    assert checkpoints.lock_path("/x/checkpoints/ingest") == Path(
        "/x/checkpoints/ingest/.tillflow.lock"
    )
    assert checkpoints.lock_path("file:///x/cp") == Path("/x/cp/.tillflow.lock")
    assert checkpoints.lock_path("file:/x/cp") == Path("/x/cp/.tillflow.lock")
    assert checkpoints.lock_path("s3a://bucket/cp") is None


def test_the_job_stops_with_a_clear_error_when_its_checkpoint_is_busy(tmp_path: Path) -> None:
    checkpoint = str(tmp_path / "ingest")
    job = Path(__file__).resolve().parents[2] / "spark" / "ingest_job.py"
    with checkpoints.hold(checkpoint):
        done = subprocess.run(
            [sys.executable, str(job), "--mode", "available-now", "--checkpoint", checkpoint],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 3, done.stderr[-2000:]
    assert f"checkpoint {checkpoint} is in use by another ingestion job" in done.stderr
