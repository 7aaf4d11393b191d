"""Log files kept within a size: copy-then-truncate rotation.

The stack's processes write to a log file they inherited, opened in append mode, and never reopen
it. Renaming the file would leave them writing to the renamed one; truncating it in place works,
because an append-mode writer writes at the file's current end. So a file past ``max_bytes`` is
copied to ``<name>.1`` (older copies shift to ``.2`` ... ``.<keep>``, the oldest is dropped) and
then truncated. Lines written between the copy and the truncation are lost: at most what a
process writes in the moment the copy takes (the rotation reports how many bytes that was).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 50 * 1024**2
DEFAULT_KEEP = 3


@dataclass(frozen=True)
class Rotation:
    path: Path
    copied_bytes: int
    lost_bytes: int  # written after the copy began, gone with the truncation


def rotate(
    path: Path, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
) -> Rotation | None:
    """Rotate ``path`` when it is larger than ``max_bytes``; None when it is not."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size <= max_bytes:
        return None
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    first = path.with_name(f"{path.name}.1")
    with path.open("rb") as src, first.open("wb") as dst:
        shutil.copyfileobj(src, dst)
        copied = dst.tell()
    with path.open("r+b") as live:
        lost = max(live.seek(0, 2) - copied, 0)
        live.truncate(0)
    return Rotation(path, copied, lost)


def rotate_folder(
    folder: Path, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
) -> list[Rotation]:
    """Rotate every ``*.log`` of ``folder`` (not the rotated copies) past ``max_bytes``."""
    if not folder.is_dir():
        return []
    done = []
    for path in sorted(folder.glob("*.log")):
        rotation = rotate(path, max_bytes, keep)
        if rotation is not None:
            done.append(rotation)
    return done


def rotate_stack_logs(
    max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
) -> list[Rotation]:
    """Rotate the logs of the stack's processes (``logs/`` of the state folder, TILLFLOW_HOME);
    nothing under ``astro dev start``, where the containers' logs are Docker's."""
    from tillflow.config import Settings

    return rotate_folder(Settings.from_env().log_dir, max_bytes, keep)


def prune_older_than(folder: Path, days: float, now: float | None = None) -> tuple[int, int]:
    """Delete the files under ``folder`` not modified for ``days`` (Airflow's task logs), then
    the folders left empty; return (files, bytes) deleted."""
    if not folder.is_dir():
        return 0, 0
    cutoff = (now if now is not None else time.time()) - days * 86400
    files = freed = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        stat = path.stat()
        if stat.st_mtime < cutoff:
            freed += stat.st_size
            path.unlink()
            files += 1
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(path.iterdir()):
            path.rmdir()
    return files, freed
