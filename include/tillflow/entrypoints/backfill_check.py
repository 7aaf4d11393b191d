"""`tillflow elt backfill-check`: `airflow backfill create` through the running scheduler, then a
re-run of one day, with a hash of every mart before and after (the idempotency acceptance check).

The daily DAG's timetable is ``CronDataIntervalTimetable("0 0 * * *")``: a run's logical date is
the start of its data interval, so ``--from-date D1 --to-date D3`` (both inclusive) makes one run
per UTC day D1..D3 with the interval [D, D + 1 day). Backfill runs get the conf
``{"skip_ingestion_wait": true}`` so the sensor does not wait for live ingestion on old days.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tillflow.adapters.airflow_api import AirflowClient
from tillflow.config import Settings

DAG_ID = "tillflow_elt_daily"
TERMINAL = {"success", "failed"}


@dataclass(frozen=True)
class BackfillResult:
    runs: dict[str, str]  # run_id -> final state
    seconds: float

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(s == "success" for s in self.runs.values())


def backfill_command(
    start: date,
    end: date,
    conf: str = '{"skip_ingestion_wait": true}',
    reprocess: str = "completed",
    dag_id: str = DAG_ID,
    max_active_runs: int = 1,
) -> list[str]:
    """The ``airflow backfill create`` arguments for the UTC days start..end (inclusive).

    Backfills default to 10 concurrent runs; the ELT runs share one warehouse and rebuild the same
    views and tables, so they run one at a time (the DAG's own ``max_active_runs`` does not
    apply to backfill runs).
    """
    if end < start:
        raise ValueError(f"empty range {start}..{end}")
    return [
        "backfill", "create", "--dag-id", dag_id,
        "--from-date", start.isoformat(), "--to-date", end.isoformat(),
        "--dag-run-conf", conf, "--reprocess-behavior", reprocess,
        "--max-active-runs", str(max_active_runs),
    ]  # fmt: skip


def _runs(client: AirflowClient, dag_id: str, start: date, end: date) -> list[dict[str, Any]]:
    params = {
        "logical_date_gte": f"{start.isoformat()}T00:00:00Z",
        "logical_date_lte": f"{end.isoformat()}T00:00:00Z",
        "limit": 100,
    }
    body = client._request("GET", f"/dags/{dag_id}/dagRuns", params=params)
    return list(body["dag_runs"])


def run_backfill(
    settings: Settings,
    client: AirflowClient,
    start: date,
    end: date,
    *,
    dag_id: str = DAG_ID,
    timeout: float = 3600,
    progress: Callable[[str], None] = print,
) -> BackfillResult:
    """Create a backfill with the airflow CLI and wait until the scheduler has finished its runs."""
    from tillflow.runtime.airflow_env import airflow_env

    created = datetime.now(UTC).isoformat()
    expected = (end - start).days + 1
    airflow = str(Path(sys.executable).parent / "airflow")
    t0 = time.monotonic()
    proc = subprocess.run(
        [airflow, *backfill_command(start, end, dag_id=dag_id)],
        env=airflow_env(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow backfill create failed:\n{proc.stderr[-2000:]}")
    progress(f"    backfill created for {start}..{end} ({time.monotonic() - t0:.1f}s)")
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        # A backfill creates a run per day, or clears the day's existing run (reprocess
        # "completed"): either way the run is queued after the backfill was created.
        new = [r for r in _runs(client, dag_id, start, end) if _queued_after(r, created)]
        states = {r["dag_run_id"]: str(r["state"]) for r in new}
        line = ", ".join(f"{r['logical_date'][:10]}={r['state']}" for r in new)
        if line != last:
            progress(f"    [{time.monotonic() - t0:6.0f}s] {line}")
            last = line
        if len(new) >= expected and all(s in TERMINAL for s in states.values()):
            # The scheduler marks the backfill completed a moment after its last run; until
            # then no other backfill of the DAG can be created.
            _wait_until_completed(client, dag_id, deadline)
            return BackfillResult(states, time.monotonic() - t0)
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill {start}..{end} not finished within {timeout:.0f}s")
        time.sleep(5)


def _wait_until_completed(client: AirflowClient, dag_id: str, deadline: float) -> None:
    while True:
        body = client._request("GET", "/backfills", params={"dag_id": dag_id, "limit": 100})
        if all(b.get("completed_at") for b in body["backfills"]):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"a backfill of {dag_id} is still not marked completed")
        time.sleep(2)


def _queued_after(run: dict[str, Any], instant: str) -> bool:
    queued = run.get("queued_at")
    if not queued or run.get("run_type") != "backfill":
        return False
    return datetime.fromisoformat(str(queued)) >= datetime.fromisoformat(instant)


def set_paused(client: AirflowClient, dag_id: str, paused: bool) -> bool:
    """Set the DAG's pause flag; return what it was (the scheduler runs no task of a paused DAG)."""
    was = bool(client._request("GET", f"/dags/{dag_id}")["is_paused"])
    if was != paused:
        client._request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})
    return was


def compare(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The marts whose hash differs (empty = every mart identical)."""
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


def check(
    settings: Settings,
    days: Sequence[date],
    rerun: date,
    mart_dsn: str,
    *,
    dag_id: str = DAG_ID,
    progress: Callable[[str], None] = print,
) -> int:
    """Backfill ``days``, hash the marts, re-run ``rerun`` alone, hash again; 0 iff identical."""
    from tillflow.jobs.elt import marts

    af = settings.airflow
    client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
    try:
        client.wait_for_dag(dag_id)
        was_paused = set_paused(client, dag_id, False)
        try:
            progress(f"== airflow backfill create {dag_id} {days[0]}..{days[-1]}")
            first = run_backfill(settings, client, days[0], days[-1], dag_id=dag_id)
            progress(f"    {len(first.runs)} runs: {first.runs}; wall {first.seconds:.0f}s")
            if not first.ok:
                return 1
            before = marts.mart_hashes(mart_dsn)
            progress(f"== re-run of {rerun} (backfill --reprocess-behavior completed)")
            again = run_backfill(settings, client, rerun, rerun, dag_id=dag_id)
            progress(f"    {again.runs}; wall {again.seconds:.0f}s")
            after = marts.mart_hashes(mart_dsn)
        finally:
            if was_paused:
                set_paused(client, dag_id, True)
    finally:
        client.close()
    for name in before:
        progress(f"    {name:<28} before {before[name]}  after {after[name]}")
    changed = compare(before, after)
    progress(
        "marts identical after the re-run" if not changed and again.ok else f"CHANGED: {changed}"
    )
    return 0 if not changed and again.ok else 1


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
