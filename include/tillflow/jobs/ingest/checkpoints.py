"""One streaming query per checkpoint.

Two jobs on one checkpoint (a manual ``tillflow ingest --mode available-now`` while the DAG's
catch-up run is going, say) race on Spark's offset log: Spark stops one of them with
CONCURRENT_STREAM_LOG_UPDATE, and both record progress under the same batch ids. Nothing is lost
or doubled (the sink's commit log fences every chunk), but the error says nothing useful. A job
therefore holds an exclusive lock on ``<checkpoint>/.tillflow.lock`` while it runs and a second one stops at
once with a message naming the holder. The kernel releases the lock when the process ends, kill -9
included, so a killed job never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse


class CheckpointBusy(RuntimeError):
    """Another ingestion job is running on this checkpoint."""


def lock_path(checkpoint: str) -> Path | None:
    """The lock file of a local checkpoint (inside it: removing the checkpoint removes the lock);
    None for a remote one (hdfs://, s3a://)."""
    url = urlparse(checkpoint)
    if url.scheme not in ("", "file"):
        return None
    return Path(url.path if url.scheme else checkpoint) / ".tillflow.lock"


@contextlib.contextmanager
def hold(checkpoint: str) -> Iterator[None]:
    """Hold the checkpoint's lock for the block; raise CheckpointBusy if another process has it."""
    path = lock_path(checkpoint)
    if path is None:  # a cluster's checkpoint: Spark's own log-update check is all there is
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise CheckpointBusy(
                f"checkpoint {checkpoint} is in use by another ingestion job (pid {holder});"
                " wait for it to finish, or give this run its own --checkpoint"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
