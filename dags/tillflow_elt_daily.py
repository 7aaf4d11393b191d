"""
### tillflow_elt_daily

The daily warehouse build for one UTC day (the run's data interval), backfillable:

1. `wait_for_ingestion` — waits until ingestion has landed scans past the interval's end (plus a
   grace for voids); skipped with the param `skip_ingestion_wait` (fixture runs, backfills of
   days known complete);
2. `gx_raw_gate` — Great Expectations on the interval's raw rows (row counts, nulls, ranges,
   timestamp skew); a failure stops the run before dbt touches anything;
3. `find_late_days` — the earlier days of the look-back (param `late_lookback_days`, default 7)
   that received events since they were last built, judged by arrival (`ingested_at`), or that
   were never built; and the arrival cutoff this run's build contains. The batch ledger's
   entries of the days without late events move up to that cutoff (the serving views read it);
4. `rebuild_late_days` — `dbt build` of each such day, oldest first (its return value lists the
   days rebuilt and why);
5. `dbt` — Cosmos task group from the dbt manifest (`ExecutionMode.WATCHER`): staging views, SCD2
   history and snapshots, dimensions, incremental facts and marts for the interval (dbt vars
   `data_interval_start/end`). One producer task runs a single `dbt build` of them all (each
   node's tests right after it, dbt's threads in parallel); a sensor per model or snapshot
   (`<node>.run`) and per node's tests (`<node>.test`) turns green or red as dbt reports it, so
   the grid shows every node. A cleared run (or a retry) skips the producer and each sensor runs
   its own node instead: the same result, node by node, slower;
6. `gx_marts_gate` — Great Expectations on the marts of the interval; once it passed, it updates
   the `marts.*` assets, which schedule `tillflow_dbt_docs` (the docs site). The GX data docs are
   written by the gates under `include/gx/`.

- **Schedule:** daily at 00:00 UTC for the day before (`CronDataIntervalTimetable`); backfill with
  `airflow backfill create --dag-id tillflow_elt_daily --from-date A --to-date B`.
- **Inputs:** `raw.*` of the warehouse (connection `postgres_warehouse`), the dbt manifest
  `dbt_project/target/manifest.json` (refresh: `tillflow elt manifest`).
- **Assets:** reads `raw.*` (ingestion's assets, inlets of both gates); `gx_marts_gate` updates
  the `marts.*` assets once it passed, so DAGs scheduled on them run after a validated build. The
  run itself stays on its daily timetable with the ingestion sensor: a run triggered by an asset
  event would get the events' timestamps as its data interval, not the UTC day it must build.
- **Outputs:** schemas `staging`, `intermediate`, `snapshots`, `core`, `marts`, `serving` (the
  profile's target `airflow` builds the plain names: `dbt_project/README.md`); the gate reports as
  the return values (XCom) of `gx_raw_gate` and `gx_marts_gate`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
    TestBehavior,
)
from cosmos.profiles import PostgresUserPasswordProfileMapping

from tillflow import config
from tillflow_airflow.assets import MART_ASSETS, RAW

DBT_PROJECT_DIR = config.PROJECT_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
if not MANIFEST.exists():
    raise FileNotFoundError(f"dbt manifest missing: {MANIFEST}. Run `tillflow elt manifest`.")

DEFAULT_ARGS = {"owner": "warehouse", "retries": 2, "retry_delay": timedelta(seconds=30)}
DBT_VARS = {
    "data_interval_start": "{{ data_interval_start.isoformat() }}",
    "data_interval_end": "{{ data_interval_end.isoformat() }}",
    "arrivals_through": "{{ ti.xcom_pull(task_ids='find_late_days')['cutoff'] }}",
}

with DAG(
    dag_id="tillflow_elt_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "warehouse", "dbt", "quality"],
    doc_md=__doc__,
    params={
        "skip_ingestion_wait": Param(False, type="boolean", description="fixture runs"),
        "ingestion_grace_minutes": Param(5, type="integer", minimum=0),
        "min_scans": Param(1, type="integer", minimum=0, description="raw gate: scans needed"),
        "late_lookback_days": Param(
            7, type="integer", minimum=0, description="days back to look for late events"
        ),
    },
) as dag:

    @task.sensor(poke_interval=60, timeout=6 * 3600, mode="reschedule")
    def wait_for_ingestion() -> bool:
        """True once a scan at or after interval end + grace has landed (or when skipped)."""
        from tillflow.jobs.elt import watermark
        from tillflow_airflow.connections import postgres_dsn

        ctx = get_current_context()
        params = ctx["params"]
        if params["skip_ingestion_wait"]:
            return True
        end = ctx["data_interval_end"]
        assert end is not None
        grace = timedelta(minutes=int(params["ingestion_grace_minutes"]))
        return watermark.ingested_past(postgres_dsn(config.CONN_WAREHOUSE), end + grace)

    @task(inlets=RAW)
    def gx_raw_gate() -> dict[str, Any]:
        from tillflow.jobs.elt import gates
        from tillflow_airflow.connections import postgres_dsn

        ctx = get_current_context()
        start, end = ctx["data_interval_start"], ctx["data_interval_end"]
        assert start is not None and end is not None
        checks = gates.raw_checks(start, end, min_scans=int(ctx["params"]["min_scans"]))
        dsn = postgres_dsn(config.CONN_WAREHOUSE)
        return gates.run_gate("raw_gate", checks, dsn, (start, end)).as_dict()

    @task
    def find_late_days() -> dict[str, Any]:
        """The arrival cutoff of this run's build, and the earlier days to build again."""
        from tillflow.jobs.elt import late_days
        from tillflow_airflow.connections import postgres_dsn

        ctx = get_current_context()
        start = ctx["data_interval_start"]
        assert start is not None
        dsn = postgres_dsn(config.CONN_WAREHOUSE)
        # The cutoff first: whatever arrives while the days are searched is late for this run.
        cutoff = late_days.arrival_cutoff(dsn)
        lookback = int(ctx["params"]["late_lookback_days"])
        days = late_days.find_late_days(dsn, start.date(), lookback)
        # The batch ledger's clean days move up to the cutoff (the serving views then read only
        # the arrivals since it); the late ones keep theirs until they are rebuilt below.
        moved = late_days.advance_ledger(dsn, cutoff, start.date(), lookback)
        print(f"batch ledger: {moved.facts} fact and {moved.marts} mart entries moved to {cutoff}")
        stale = [d.isoformat() for d in moved.stale_days]
        if stale:
            # The serving views count those events; the marts miss them until a build.
            print(
                f"WARNING: events arrived for {', '.join(stale)}, before the {lookback}-day"
                " look-back: build them again with `tillflow elt build DAY`"
            )
        return {
            "cutoff": cutoff.isoformat(),
            "late": [d.as_dict() for d in days],
            "stale_outside_lookback": stale,
        }

    @task
    def rebuild_late_days(found: dict[str, Any]) -> list[dict[str, Any]]:
        """`dbt build` of each late day, oldest first, with the run's arrival cutoff (the
        all-days mart checks are left to the run's own build, which comes next)."""
        from tillflow.jobs.elt import dbt as dbt_runner
        from tillflow_airflow.connections import postgres_dsn

        dsn = postgres_dsn(config.CONN_WAREHOUSE)
        cutoff = datetime.fromisoformat(found["cutoff"])
        rebuilt = []
        for late in found["late"]:
            run = dbt_runner.rebuild_late_day(dsn, date.fromisoformat(late["day"]), cutoff)
            rebuilt.append({**late, "seconds": round(run.seconds, 1)})
            print(f"rebuilt {late['day']} in {run.seconds:.0f}s: {late['reason']}")
        return rebuilt

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=MANIFEST,
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="tillflow",
            target_name="airflow",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=config.CONN_WAREHOUSE,
                # The mapping's default is 1 thread; `tillflow elt` builds with the profile's 2.
                profile_args={"schema": config.SCHEMA_CORE, "threads": config.dbt_threads()},
            ),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # One sensor per model or snapshot, green once the node and its tests passed in the
            # producer's `dbt build` (which runs each node's tests right after it, fail-fast).
            test_behavior=TestBehavior.AFTER_EACH,
        ),
        # One `dbt build` of the whole group (the producer task, dbt's own threads) and one
        # deferred sensor per node reporting that node's result: the per-task dbt start-up of
        # one dbt process per model is gone.
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            # A sensor that must run its own node (a cleared run) runs dbt in its own process
            # and so spares a dbt start-up per task...
            invocation_mode=InvocationMode.DBT_RUNNER,
            # ...but the producer's build runs as a dbt process of its own, its JSON log read
            # line by line. In-process, every dbt event went through Cosmos's callback under the
            # GIL shared with dbt's threads: the same build took 41 s instead of 11 s.
            setup_operator_args={"invocation_mode": InvocationMode.SUBPROCESS},
        ),
        operator_args={
            "vars": DBT_VARS,
            "install_deps": False,
            # A failing dbt test fails on the data, which a retry does not change: one retry,
            # soon (a transient error still gets its second chance), not two 30 s apart.
            "retries": 1,
            "retry_delay": timedelta(seconds=10),
            # A cleared or retried run skips the producer and each sensor runs its own node:
            # `dbt test --select <model>` then takes only the tests whose other parents are
            # built already (its ancestors), so a test comparing a model with a downstream one
            # runs at that downstream model, after it is rebuilt. The producer selects all.
            "dbt_cmd_flags": ["--indirect-selection", "buildable"],
        },
    )

    # The marts' asset events: emitted once the gate vouches for the marts built from raw.
    @task(inlets=RAW, outlets=MART_ASSETS)
    def gx_marts_gate() -> dict[str, Any]:
        from tillflow.jobs.elt import gates
        from tillflow_airflow.connections import postgres_dsn

        ctx = get_current_context()
        start, end = ctx["data_interval_start"], ctx["data_interval_end"]
        assert start is not None and end is not None
        min_rows = 1 if int(ctx["params"]["min_scans"]) > 0 else 0
        checks = gates.mart_checks(start, end, min_rows=min_rows)
        dsn = postgres_dsn(config.CONN_WAREHOUSE)
        return gates.run_gate("marts_gate", checks, dsn, (start, end)).as_dict()

    found = find_late_days()
    wait_for_ingestion() >> gx_raw_gate() >> found
    rebuild_late_days(found) >> dbt >> gx_marts_gate()  # type: ignore[arg-type]
