"""Copy-then-truncate rotation under a live append-mode writer (a real child process, as the
stack's services write their logs): nothing before the copy is lost, the live file restarts
small (no hole of NULs), and old copies shift and expire."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tillflow.jobs.housekeeping.logs import prune_older_than, rotate, rotate_folder

pytestmark = pytest.mark.unit

LINE_BYTES = len("line 00000000 ") + 80 + 1
WRITER = """
import sys, time
n = 0
while True:
    sys.stdout.write(f"line {n:08d} " + "x" * 80 + "\\n")
    sys.stdout.flush()
    n += 1
    time.sleep(0.0005)
"""


def _numbers(*paths: Path) -> list[int]:
    numbers = []
    for path in paths:
        for line in path.read_bytes().splitlines():
            if line.startswith(b"line "):
                numbers.append(int(line.split()[1]))
    return numbers


def test_rotation_under_a_live_writer_keeps_every_line_but_the_moment_of_the_copy(
    tmp_path: Path,
) -> None:
    log = tmp_path / "svc.log"
    with log.open("ab") as out:
        writer = subprocess.Popen([sys.executable, "-c", WRITER], stdout=out)
    try:
        while log.stat().st_size < 200_000:
            time.sleep(0.05)
        rotation = rotate(log, max_bytes=100_000, keep=2)
        time.sleep(0.3)
    finally:
        writer.kill()
        writer.wait(10)
    assert rotation is not None and rotation.copied_bytes >= 200_000
    live = log.read_bytes()
    assert not live.startswith(b"\0"), "the writer left a hole: it did not write at the end"
    assert len(live) < rotation.copied_bytes
    before, after = _numbers(log.with_name("svc.log.1")), _numbers(log)
    assert before == list(range(len(before)))  # the copy holds every line up to it, in order
    assert after and after == list(range(after[0], after[0] + len(after)))
    gap = after[0] - len(before)  # lines written while the copy ran, dropped by the truncation
    assert 0 <= gap * LINE_BYTES <= rotation.lost_bytes + 2 * LINE_BYTES


def test_copies_shift_and_the_oldest_expires(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    for generation in range(4):
        log.write_text(f"generation {generation}\n" * 100)
        assert rotate(log, max_bytes=10, keep=2) is not None
    assert (tmp_path / "svc.log.1").read_text().startswith("generation 3")
    assert (tmp_path / "svc.log.2").read_text().startswith("generation 2")
    assert not (tmp_path / "svc.log.3").exists()
    assert rotate(log, max_bytes=10) is None  # empty now: under the limit


def test_a_folder_rotates_only_its_logs_past_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.log").write_text("x" * 1000)
    (tmp_path / "small.log").write_text("x" * 10)
    (tmp_path / "big.log.1").write_text("x" * 5000)  # a copy is never rotated itself
    done = rotate_folder(tmp_path, max_bytes=100)
    assert [r.path.name for r in done] == ["big.log"]
    assert (tmp_path / "big.log.2").exists()


def test_old_task_logs_are_pruned_and_empty_folders_removed(tmp_path: Path) -> None:
    old = tmp_path / "dag_id=a" / "run_id=1" / "attempt=1.log"
    new = tmp_path / "dag_id=a" / "run_id=2" / "attempt=1.log"
    for path in (old, new):
        path.parent.mkdir(parents=True)
        path.write_text("log\n")
    now = time.time()
    os.utime(old, (now - 40 * 86400, now - 40 * 86400))
    assert prune_older_than(tmp_path, days=30, now=now) == (1, 4)
    assert new.exists() and not old.parent.exists()


def test_the_metadata_clean_keeps_the_look_back_and_no_archive() -> None:
    from datetime import UTC, datetime

    from tillflow.jobs.housekeeping.airflow_metadata import clean_command

    cmd = clean_command(30, now=datetime(2026, 12, 3, tzinfo=UTC))
    assert cmd[1:4] == ["db", "clean", "--clean-before-timestamp"]
    assert cmd[4] == "2026-11-03T00:00:00+00:00"
    assert "--skip-archive" in cmd and "--yes" in cmd


def test_the_metadata_url_is_quoted_for_sqlalchemy() -> None:
    from tillflow.jobs.housekeeping.airflow_metadata import database_url

    url = database_url("127.0.0.1", 55432, "tillflow_airflow", "p@ss:w/rd", "airflow")
    assert url == "postgresql+psycopg2://tillflow_airflow:p%40ss%3Aw%2Frd@127.0.0.1:55432/airflow"


def test_a_failing_clean_raises_with_what_airflow_said() -> None:
    import pytest

    from tillflow.jobs.housekeeping.airflow_metadata import clean

    # a database no one listens on: the clean fails, and the error carries its output
    with pytest.raises(RuntimeError, match="airflow db clean failed"):
        clean(30, "postgresql+psycopg2://nobody:x@127.0.0.1:1/none")
