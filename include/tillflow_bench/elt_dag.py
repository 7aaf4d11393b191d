"""`tillflow bench elt-dag`: one day's ELT through the scheduler beside the same dbt build outside
Airflow, both on the running stack's warehouse, measured in one run.

1. `dbt build` of the day, as `tillflow elt build` runs it (dbt alone: the floor of the DAG);
2. a new run of `tillflow_elt_daily` for the same day, through the REST API and the scheduler
   like any scheduled run: the raw gate, the late-day search, the Cosmos group (one producer
   `dbt build` and a sensor per node) and the marts gate.

Both rebuild the day (an incremental model replaces the interval), so the second build does the
same work as the first. The ratio DAG / dbt alone is what running through Airflow costs; the
earlier days the run rebuilds first (late data, which dbt alone does not build) are shown apart
and left out of it. The per-task lines say where the time goes: the tasks before dbt, the
producer's build, the sensors' tail after it (each dependency level waits for a scheduler loop)
and the marts gate.

A day that already has a run of the DAG is deleted first: a cleared run would take Cosmos's
node-by-node fallback instead of the producer's single build. The DAG is unpaused for the run and
paused again after it if it was paused. The day must be the DAG's latest interval (yesterday), or
the DAG already unpaused: unpausing schedules the latest interval, whose run would wait for
ingestion and hold the DAG's single active run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from tillflow import config
from tillflow.adapters.airflow_api import AirflowClient
from tillflow.config import Settings
from tillflow.jobs.elt import dbt

DAG_ID = "tillflow_elt_daily"
PRODUCER = "dbt.dbt_producer_watcher"
#: Tasks of the DAG outside the Cosmos group, in their order.
OUTER_TASKS = ("wait_for_ingestion", "gx_raw_gate", "find_late_days", "rebuild_late_days")
FINAL_TASK = "gx_marts_gate"
ACTIVE = {"queued", "running"}


@dataclass(frozen=True)
class TaskTime:
    task_id: str
    state: str
    start: float  # seconds after the run's first task started
    end: float
    duration: float


@dataclass(frozen=True)
class DagBenchResult:
    day: date
    scans: int
    dbt_seconds: float
    run_id: str
    state: str
    dag_seconds: float
    tasks: tuple[TaskTime, ...]
    #: The earlier days the run built again first (``rebuild_late_days``'s return value).
    late_days: tuple[str, ...] = ()

    @property
    def late_seconds(self) -> float:
        """The run's rebuilds of earlier days: work that `dbt build` of the day alone skips."""
        late = self.task("rebuild_late_days")
        return late.duration if late is not None else 0.0

    @property
    def ratio(self) -> float:
        """Like for like: the DAG without its late-day rebuilds over the same build alone."""
        own = self.dag_seconds - self.late_seconds
        return own / self.dbt_seconds if self.dbt_seconds > 0 else float("inf")

    def task(self, task_id: str) -> TaskTime | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def sensors(self) -> list[TaskTime]:
        return [
            t
            for t in self.tasks
            if t.task_id.startswith("dbt.") and not t.task_id.startswith(PRODUCER) and t.end >= 0
        ]

    def lines(self, target_ratio: float) -> list[str]:
        out = [
            f"day {self.day} ({self.scans:,} scans in raw)",
            f"dbt build alone (tillflow elt build):  {self.dbt_seconds:7.1f}s",
            f"tillflow_elt_daily via the scheduler:  {self.dag_seconds:7.1f}s  ({self.state},"
            f" run {self.run_id})",
        ]
        if self.late_seconds > 0:
            out.append(
                f"  of which {self.late_seconds:.1f}s rebuilt earlier days first"
                f" ({', '.join(self.late_days) or 'none listed'}): not in the ratio"
            )
        verdict = "ok" if self.ratio <= target_ratio else f"ABOVE the {target_ratio} target"
        out.append(f"ratio DAG / dbt alone: {self.ratio:.2f} ({verdict})")
        out.append("where the DAG's time goes (s after its first task started):")
        for task_id in (*OUTER_TASKS, PRODUCER):
            t = self.task(task_id)
            if t is not None:
                out.append(f"  {t.task_id:<32} {t.start:6.1f} -> {t.end:6.1f}  {t.duration:6.1f}s")
        sensors = self.sensors()
        producer = self.task(PRODUCER)
        if sensors:
            last = max(s.end for s in sensors)
            busy = sum(s.duration for s in sensors)
            tail = last - producer.end if producer else 0.0
            out.append(
                f"  {len(sensors)} sensors (one per node and per node's tests): last green at"
                f" {last:.1f}, {tail:.1f}s after the producer; {busy:.0f}s of task time in all"
            )
            slowest = sorted(sensors, key=lambda s: s.duration, reverse=True)[:3]
            out.append(
                "    longest: " + ", ".join(f"{s.task_id} {s.duration:.1f}s" for s in slowest)
            )
        final = self.task(FINAL_TASK)
        if final is not None:
            out.append(
                f"  {final.task_id:<32} {final.start:6.1f} -> {final.end:6.1f}  {final.duration:6.1f}s"
            )
        return out


def latest_interval(now: datetime | None = None) -> date:
    """The daily DAG's latest complete interval: yesterday (UTC)."""
    return ((now or datetime.now(UTC)) - timedelta(days=1)).date()


def day_scans(dsn: str, day: date) -> int:
    start = datetime.combine(day, datetime.min.time(), UTC)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select count(*) from raw.pos_scans where scanned_at >= %s and scanned_at < %s",
            (start, start + timedelta(days=1)),
        ).fetchone()
    return int(row[0]) if row else 0


def task_times(raw: list[dict[str, Any]]) -> tuple[TaskTime, ...]:
    """Each task instance's start, end and duration relative to the run's first task."""
    started = [datetime.fromisoformat(t["start_date"]) for t in raw if t.get("start_date")]
    if not started:
        return ()
    t0 = min(started)

    def rel(value: str | None) -> float:
        return (datetime.fromisoformat(value) - t0).total_seconds() if value else -1.0

    times = [
        TaskTime(
            str(t["task_id"]),
            str(t["state"]),
            rel(t.get("start_date")),
            rel(t.get("end_date")),
            float(t.get("duration") or 0.0),
        )
        for t in raw
    ]
    return tuple(sorted(times, key=lambda t: (t.start, t.task_id)))


def _drop_earlier_run(client: AirflowClient, logical_date: str) -> None:
    existing = client.run_at(DAG_ID, logical_date)
    if existing is None:
        return
    if existing["state"] in ACTIVE:
        raise RuntimeError(
            f"{DAG_ID} has a {existing['state']} run for {logical_date}"
            f" ({existing['dag_run_id']}): wait for it or mark it failed, then run the bench again"
        )
    client.delete_run(DAG_ID, str(existing["dag_run_id"]))


def run_bench(
    settings: Settings,
    day: date,
    *,
    timeout: float = 7200,
    progress: Callable[[str], None] = print,
) -> DagBenchResult:
    pg = settings.postgres
    dsn = pg.dsn(config.DB_WAREHOUSE, pg.dbt)
    start = datetime.combine(day, datetime.min.time(), UTC)
    end = start + timedelta(days=1)
    scans = day_scans(dsn, day)

    af = settings.airflow
    client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
    try:
        client.wait_for_dag(DAG_ID, timeout=300)
        was_paused = client.is_paused(DAG_ID)
        if was_paused and day != latest_interval():
            raise RuntimeError(
                f"{DAG_ID} is paused and {day} is not its latest interval ({latest_interval()}):"
                " unpausing it would schedule that interval, whose run waits for ingestion and"
                " holds the DAG's single active run. Bench the latest interval (the default), or"
                " unpause the DAG yourself once its latest interval has run."
            )

        progress(f"dbt build of {day} outside Airflow ({scans:,} scans) ...")
        alone = dbt.build_interval(dsn, start, end)
        if not alone.ok:
            raise RuntimeError(f"dbt build of {day} failed:\n{alone.output[-2000:]}")

        _drop_earlier_run(client, start.isoformat())
        progress(f"{DAG_ID} for {day} through the scheduler ...")
        began = time.monotonic()
        if was_paused:
            client.unpause(DAG_ID)
        try:
            run_id = client.trigger(
                DAG_ID,
                # An empty day (a fresh stack) is measured too: the raw gate then needs no scans.
                {"skip_ingestion_wait": True, "min_scans": 1 if scans else 0},
                start.isoformat(),
                (start.isoformat(), end.isoformat()),
            )
            last = [0.0]

            def report(state: str, states: dict[str, str]) -> None:
                if time.monotonic() - last[0] < 15:
                    return
                last[0] = time.monotonic()
                done = sum(1 for s in states.values() if s in {"success", "skipped", "failed"})
                progress(
                    f"  {time.monotonic() - began:5.0f}s {state}: {done}/{len(states)} tasks done"
                )

            state = client.wait_for_run(DAG_ID, run_id, timeout=timeout, progress=report)
        finally:
            if was_paused:
                client.set_paused(DAG_ID, True)
        dag_seconds = time.monotonic() - began
        tasks = task_times(client.task_instances(DAG_ID, run_id))
        late = _late_days(client, run_id)
    finally:
        client.close()
    return DagBenchResult(day, scans, alone.seconds, run_id, state, dag_seconds, tasks, late)


def _late_days(client: AirflowClient, run_id: str) -> tuple[str, ...]:
    try:
        rebuilt = client.xcom(DAG_ID, run_id, "rebuild_late_days") or []
    except Exception:  # no value (the task failed or did not run): nothing to list
        return ()
    return tuple(f"{d['day']}: {d['reason']}" for d in rebuilt)
