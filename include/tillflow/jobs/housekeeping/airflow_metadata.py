"""Airflow's metadata kept to a look-back: ``airflow db clean`` of the rows older than it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def clean_command(keep_days: int, now: datetime | None = None) -> list[str]:
    """The ``airflow db clean`` call: runs, task instances, XComs, logs, asset events... older
    than ``keep_days``, without archive tables (they would keep the rows a second time)."""
    before = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    airflow = str(Path(sys.executable).parent / "airflow")
    return [
        airflow,
        "db",
        "clean",
        "--clean-before-timestamp",
        before.isoformat(),
        "--skip-archive",
        "--yes",
    ]


def clean(keep_days: int) -> str:
    """Run the clean; its output's last lines (what it deleted) for the task's return value."""
    proc = subprocess.run(
        clean_command(keep_days), capture_output=True, text=True, timeout=1800, check=True
    )
    return "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
