"""Airflow's metadata kept to a look-back: ``airflow db clean`` of the rows older than it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote


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


def database_url(host: str, port: int, login: str, password: str, database: str) -> str:
    """The SQLAlchemy URL of Airflow's metadata database, from a connection's fields."""
    user = f"{quote(login, safe='')}:{quote(password, safe='')}"
    return f"postgresql+psycopg2://{user}@{host}:{port}/{quote(database, safe='')}"


def clean(keep_days: int, database: str) -> str:
    """Run the clean against ``database`` (a SQLAlchemy URL); its output's last lines (what it
    deleted) for the task's return value.

    The URL is passed explicitly: in a task process Airflow 3's supervisor replaces the metadata
    connection with ``airflow-db-not-allowed:///``, and a child ``airflow`` inherits that."""
    env = {
        **os.environ,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN": database,
    }
    proc = subprocess.run(
        clean_command(keep_days), capture_output=True, text=True, timeout=1800, env=env, check=False
    )
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db clean failed (exit {proc.returncode}):\n{tail}")
    return tail
