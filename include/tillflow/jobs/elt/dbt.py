"""Run dbt on the warehouse project: build for an interval, parse the manifest Cosmos loads, docs.

The project's ``profiles.yml`` reads ``TILLFLOW_DBT_*`` variables; :func:`dbt_env` derives them
from a libpq DSN so tests, the CLI and Airflow tasks run dbt the same way (a TCP host always).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from tillflow import config

DBT_PROJECT_DIR = config.PROJECT_ROOT / "dbt_project"
#: Where Cosmos reads the manifest from (``dbt parse`` writes it; see :func:`parse_manifest`).
MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"
#: Where every other local dbt command writes its artifacts. Not ``target/`` itself: Cosmos copies
#: the newest of ``target/partial_parse.msgpack`` and its own cache into each task, and a file
#: written with the local profile (or other vars) makes every task parse the project from scratch.
LOCAL_TARGET_DIR = DBT_PROJECT_DIR / "target" / "local"


def docs_dir(settings: config.Settings | None = None) -> Path:
    """Where the dbt docs site is generated for the Cosmos docs plugin (``Settings.dbt_docs_dir``)."""
    return (settings or config.Settings.from_env()).dbt_docs_dir


def dbt_executable() -> str:
    return str(Path(sys.executable).parent / "dbt")


def dbt_env(dsn: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Process environment for dbt against the database of ``dsn`` (the profile reads these)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    env = dict(os.environ if base is None else base)
    mapping = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD"}
    for key, suffix in mapping.items():
        if parts.get(key) is not None:
            env[f"TILLFLOW_DBT_{suffix}"] = str(parts[key])
    if parts.get("dbname") is not None:
        env["TILLFLOW_DBT_DBNAME"] = str(parts["dbname"])
    host = env.get("TILLFLOW_DBT_HOST", "")
    if host.startswith("/"):
        raise ValueError("dbt needs a TCP host, not a socket path (Cosmos dataset URIs use it)")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    return env


def interval_vars(start: datetime, end: datetime) -> dict[str, str]:
    """The dbt vars of a data interval (ISO 8601, timezone-aware)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("interval bounds must be timezone-aware")
    if end <= start:
        raise ValueError(f"empty interval [{start}, {end})")
    return {"data_interval_start": start.isoformat(), "data_interval_end": end.isoformat()}


@dataclass(frozen=True)
class DbtRun:
    args: tuple[str, ...]
    returncode: int
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_dbt(
    args: Sequence[str],
    dsn: str,
    dbt_vars: Mapping[str, str] | None = None,
    *,
    check: bool = True,
) -> DbtRun:
    """Run one dbt command in the project directory; raise on failure when ``check``."""
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR)]
    if args and args[0] != "parse" and "--target-path" not in args:
        cmd += ["--target-path", str(LOCAL_TARGET_DIR)]
    cmd += ["--profiles-dir", str(DBT_PROJECT_DIR)]
    if dbt_vars:
        cmd += ["--vars", json.dumps(dict(dbt_vars))]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=DBT_PROJECT_DIR, env=dbt_env(dsn), capture_output=True, text=True, check=False
    )
    run = DbtRun(tuple(args), proc.returncode, time.perf_counter() - t0, proc.stdout + proc.stderr)
    if check and not run.ok:
        tail = "\n".join(run.output.splitlines()[-40:])
        raise RuntimeError(f"dbt {' '.join(args)} failed ({run.returncode}):\n{tail}")
    return run


def build_interval(
    dsn: str,
    start: datetime,
    end: datetime,
    *extra: str,
    arrivals_through: datetime | None = None,
) -> DbtRun:
    """``dbt build`` (models, snapshots, tests) for the interval [start, end).

    The build records the arrival cutoff it contains (``late_days.arrival_cutoff``, taken now
    unless given), so a later daily run knows which rows arrived after it."""
    from tillflow.jobs.elt import late_days

    cutoff = arrivals_through or late_days.arrival_cutoff(dsn)
    variables = {**interval_vars(start, end), "arrivals_through": cutoff.isoformat()}
    return run_dbt(["build", *extra], dsn, variables)


#: The dbt tag of tests that compare marts over all days (see :func:`rebuild_late_day`).
ALL_DAYS_TAG = "all_days"


def rebuild_late_day(dsn: str, day: date, cutoff: datetime) -> DbtRun:
    """``dbt build`` of one late day with the run's arrival cutoff, without the tests tagged
    ``all_days``. Those compare marts over every day, so a day that an earlier failed run left
    half built would fail each rebuild of another day, and the run that builds that day again
    (its own interval, after the late days) would never start; the run's own build checks them."""
    from tillflow.jobs.elt import late_days

    start = late_days.midnight(day)
    return build_interval(
        dsn,
        start,
        start + timedelta(days=1),
        "--exclude",
        f"tag:{ALL_DAYS_TAG}",
        arrivals_through=cutoff,
    )


def parse_manifest(dsn: str) -> Path:
    """Write ``target/manifest.json`` with ``dbt parse`` (what Cosmos' DBT_MANIFEST mode loads)."""
    run_dbt(["parse"], dsn)
    return MANIFEST_PATH


def generate_docs(dsn: str, target_dir: Path) -> Path:
    """Generate the dbt docs site (index.html, manifest.json, catalog.json) into ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    run_dbt(["docs", "generate", "--target-path", str(target_dir)], dsn)
    return target_dir / "index.html"
