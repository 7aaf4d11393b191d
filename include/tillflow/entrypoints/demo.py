"""`make demo`: bring the stack up, run the pipeline as Airflow DAG runs, and print a summary.

Each step is one DAG run triggered through Airflow's REST API and followed to its end, so the demo
shows what the scheduler does. The steps are listed in ``default_steps()``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tillflow.adapters.airflow_api import AirflowApiError, AirflowClient
from tillflow.config import KafkaConnection, Settings
from tillflow.runtime import manager

Summarize = Callable[[AirflowClient, str], list[str]]

#: The ELT's 61 tasks take 6-7 minutes on two idle cores and longer beside other work; the demo
#: waits this long before it calls the run unfinished (the run itself goes on in Airflow).
ELT_WAIT_SECONDS = 1800.0


@dataclass(frozen=True)
class Step:
    dag_id: str
    title: str
    summarize: Summarize
    conf: dict[str, Any] = field(default_factory=dict)
    #: the data interval [start, end) of the run (its logical date is the start)
    interval: tuple[str, str] | None = None
    #: how long the demo waits for the run before it reports it as still running
    wait_seconds: float = 600


def _smoke_summary(client: AirflowClient, run_id: str) -> list[str]:
    rows = client.xcom("tillflow_smoke", run_id, "summary")
    lines = []
    for r in rows:
        state = "ok" if r["ok"] else "FAILED"
        lines.append(f"{r['service']:<20} {state:<6} {r['millis']:>9.1f} ms  {r['detail']}")
    return lines


def _xcom_summary(task_id: str, dag_id: str) -> Summarize:
    """One line per top-level entry of a task's return value."""

    def summarize(client: AirflowClient, run_id: str) -> list[str]:
        value = client.xcom(dag_id, run_id, task_id)
        if not isinstance(value, dict):
            return [f"{task_id}: {value}"]
        return [f"{task_id}.{key}: {_compact(val)}" for key, val in value.items()]

    return summarize


def _ingest_summary(since: datetime) -> Summarize:
    """The run's own summary, then what the job landed since the demo started: a scheduled
    catch-up run (created when the DAG is unpaused) may have landed the events before it."""

    def summarize(client: AirflowClient, run_id: str) -> list[str]:
        from tillflow.adapters.warehouse import warehouse_dsn
        from tillflow.jobs.ingest.progress import run_summary
        from tillflow.runtime.managed.ingest import JOB

        s = run_summary(warehouse_dsn(Settings.from_env()), JOB, since=since)
        return [
            *_xcom_summary("summary", "tillflow_ingest")(client, run_id),
            f"since the demo started: {s['landed']:,} rows landed and {s['dead_letters']:,}"
            f" dead letters in {s['batches']} batch(es), of {s['records']:,} records; lag {s['lag']}",
        ]

    return summarize


def _compact(value: Any, limit: int = 110) -> str:
    text = json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _yesterday() -> str:
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


#: The marts the demo prints, with the order of their top lines.
DEMO_MARTS: tuple[tuple[str, str], ...] = (
    ("total_sales", "channel"),
    ("daily_sales_summary", "total_sales desc, store_id, product_id"),
    ("top_profitable_products", "total_profit desc"),
    ("payment_method_distribution", "1, 2"),
    ("suggestions_daily", "suggested_order_count desc, store_id"),
)


def _gate_lines(client: AirflowClient, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """A gate's verdict, its expectation count, and each failed expectation."""
    report = client.xcom(dag_id, run_id, task_id)
    if not isinstance(report, dict):
        return [f"{task_id}: {report}"]
    results = report.get("results", [])
    failed = [r for r in results if not r.get("success")]
    verdict = "passed" if report.get("success") else "FAILED"
    lines = [f"{task_id}: {verdict}, {len(results) - len(failed)}/{len(results)} expectations met"]
    lines += [
        f"  failed: {r['check']}.{r['expectation']}({r.get('column') or ''}) "
        f"observed={_compact(r.get('observed'), 60)}"
        for r in failed
    ]
    return lines


def _elt_summary(client: AirflowClient, run_id: str) -> list[str]:
    """The quality gates' results and the top lines of the marts."""
    from tillflow.jobs.elt.marts import top_rows

    dag_id = "tillflow_elt_daily"
    lines = [*_gate_lines(client, dag_id, run_id, "gx_raw_gate")]
    rebuilt = client.xcom(dag_id, run_id, "rebuild_late_days") or []
    lines.append(f"late days rebuilt: {len(rebuilt)}")
    lines.extend(f"  {r['day']}: {r['reason']} ({r['seconds']}s)" for r in rebuilt)
    lines += _gate_lines(client, dag_id, run_id, "gx_marts_gate")
    # Only the marts gate's events: Cosmos adds one per dbt node (URIs of the profile's host).
    events = client.asset_events(dag_id, run_id)
    updated = {e["name"] for e in events if e["source_task_id"] == "gx_marts_gate"}
    lines.append(f"assets updated: {len(updated)} marts.* (they schedule {DOCS_DAG}, {LAKE_DAG})")
    pg = Settings.from_env().postgres
    dsn = pg.dsn("warehouse", pg.dbt)
    for mart, order_by in DEMO_MARTS:
        rows = top_rows(dsn, mart, order_by, limit=3)
        lines.append(f"marts.{mart}:" + ("" if rows else " (empty)"))
        lines.extend(f"  {row[:150]}" for row in rows)
    return lines


#: The DAGs downstream of the marts' assets: the demo unpauses them, then waits for their last run.
DOCS_DAG = "tillflow_dbt_docs"
LAKE_DAG = "tillflow_lakehouse"


def _newest_run(client: AirflowClient, dag_id: str) -> tuple[str | None, list[str]]:
    """The newest run of an asset-triggered DAG, awaited: its id when it succeeded, and a line."""
    runs = client.latest_runs(dag_id, limit=1)
    if not runs:
        return None, [f"[{dag_id}] no run: the marts' assets were not updated"]
    run = runs[0]
    run_id = str(run["dag_run_id"])
    try:
        state = client.wait_for_run(dag_id, run_id, timeout=600)
    except AirflowApiError as exc:
        return None, [f"[{dag_id}] {exc}"]
    line = f"[{dag_id}] {state} ({run['run_type']} run after the marts' assets were updated)"
    return (run_id if state == "success" else None), [line]


def _downstream_report(client: AirflowClient) -> tuple[bool, list[str]]:
    """The newest run of the docs DAG (asset-triggered by the ELT runs), awaited."""
    run_id, lines = _newest_run(client, DOCS_DAG)
    if run_id is not None:
        lines.append(f"    {client.xcom(DOCS_DAG, run_id, 'dbt_docs')}")
    return run_id is not None, lines


def lakehouse_lines(exports: list[dict[str, Any]], counts: dict[str, int | None]) -> list[str]:
    """What the lakehouse run wrote, and each Iceberg table's rows (its current snapshot)."""
    written = [e for e in exports if e.get("written")]
    lines = [
        f"    exported {len(written)} of {len(exports)} table-days "
        f"({sum(int(e.get('rows', 0)) for e in written):,} rows written)"
    ]
    lines += [
        f"    {name:<36} {'not exported yet' if count is None else f'{count:>10,} rows'}"
        for name, count in counts.items()
    ]
    return lines


def _lakehouse_report(client: AirflowClient, settings: Settings) -> tuple[bool, list[str]]:
    """The newest run of the lakehouse DAG, awaited, and the Iceberg tables' row counts."""
    from tillflow.adapters.iceberg import row_counts, settings_catalog
    from tillflow.jobs.lakehouse.tables import TABLES

    run_id, lines = _newest_run(client, LAKE_DAG)
    if run_id is None:
        return False, lines
    exports = client.xcom(LAKE_DAG, run_id, "export") or []
    counts = row_counts(settings_catalog(settings), [t.identifier for t in TABLES])
    lines.append("[lakehouse] Iceberg tables (`tillflow sql` queries them)")
    return True, lines + lakehouse_lines(exports, counts)


def default_steps() -> list[Step]:
    """The demo's DAG runs, in pipeline order. A short live window of yesterday's evening (US
    stores are open then; `now` may fall in their night) keeps the run within minutes."""
    day = _yesterday()
    started = datetime.now(UTC)
    today = datetime.now(UTC).date().isoformat()
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    return [
        Step("tillflow_smoke", "smoke: a round trip through every service", _smoke_summary),
        Step(
            "tillflow_bootstrap",
            "bootstrap: OLTP schema, seeded reference data, topics",
            lambda c, r: (
                _xcom_summary("oltp", "tillflow_bootstrap")(c, r)
                + _xcom_summary("topics", "tillflow_bootstrap")(c, r)
            ),
        ),
        Step(
            "tillflow_generate_live",
            f"scans: a live window of {day} 17:00Z, sped up 90x",
            _xcom_summary("live", "tillflow_generate_live"),
            conf={"start": f"{day}T17:00:00Z", "duration_s": 20, "speedup": 90, "max_rate": 20000},
        ),
        Step(
            "tillflow_generate_orders",
            "orders: 200 through the orders API (some qualify for a suggestion)",
            _xcom_summary("post_orders", "tillflow_generate_orders"),
            conf={"count": 200, "rate": 40.0, "seed": 0},
        ),
        Step(
            "tillflow_item_churn",
            "item-master churn: price changes, inserts, deletes, tier changes (CDC carries them)",
            _xcom_summary("churn", "tillflow_item_churn"),
        ),
        Step(
            "tillflow_ingest",
            "ingestion: Spark catch-up (availableNow) of every topic into raw, exactly once",
            _ingest_summary(started),
        ),
        # Ingestion has just caught up, so the runs skip its watermark sensor.
        Step(
            "tillflow_elt_daily",
            f"warehouse: the daily ELT of {day} (GX gate, dbt via Cosmos, GX gate, assets)",
            _elt_summary,
            conf={"skip_ingestion_wait": True},
            interval=(f"{day}T00:00:00Z", f"{today}T00:00:00Z"),
            wait_seconds=ELT_WAIT_SECONDS,
        ),
        Step(
            "tillflow_elt_daily",
            f"warehouse: the daily ELT of {today} so far (the orders and their suggestions)",
            _elt_summary,
            conf={"skip_ingestion_wait": True, "min_scans": 0},
            interval=(f"{today}T00:00:00Z", f"{tomorrow}T00:00:00Z"),
            wait_seconds=ELT_WAIT_SECONDS,
        ),
    ]


def topic_counts(
    connection: KafkaConnection, prefixes: tuple[str, ...] = ("pos.", "oltp.", "order_")
) -> dict[str, int]:
    """Messages per platform topic (high watermarks from fetches, not ListOffsets: see DESIGN)."""
    from confluent_kafka import TopicPartition

    from tillflow.adapters import kafka
    from tillflow.adapters.kafka_profiles import WATERMARK_READER

    cons = kafka.reader(connection, WATERMARK_READER)
    try:
        counts: dict[str, int] = {}
        for name, meta in sorted(cons.list_topics(timeout=10).topics.items()):
            if not name.startswith(prefixes):
                continue
            total = 0
            for pid in meta.partitions:
                low, high = cons.get_watermark_offsets(
                    TopicPartition(name, pid), timeout=10, cached=False
                )
                total += max(high - low, 0)
            counts[name] = total
        return counts
    finally:
        cons.close()


def _progress(dag_id: str) -> Callable[[str, dict[str, str]], None]:
    last: list[str] = [""]

    def show(state: str, tasks: dict[str, str]) -> None:
        done = sum(1 for s in tasks.values() if s in {"success", "skipped"})
        line = f"    {dag_id}: {state} ({done}/{len(tasks)} tasks done)"
        if line != last[0]:
            print(line, flush=True)
            last[0] = line

    return show


def run(settings: Settings, steps: list[Step] | None = None) -> int:
    t0 = time.monotonic()
    print("== stack")
    manager.up(settings)
    af = settings.airflow
    client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
    report: list[str] = []
    failed = False
    try:
        for downstream in (DOCS_DAG, LAKE_DAG):
            client.wait_for_dag(downstream)
            client.unpause(downstream)  # the ELT runs' asset events schedule it
        for step in steps or default_steps():
            print(f"== {step.title}")
            client.wait_for_dag(step.dag_id)
            if step.interval is not None:
                run_id = client.run_interval(step.dag_id, *step.interval, conf=step.conf)
            else:
                run_id = client.trigger(step.dag_id, step.conf)
            # Unpaused after the trigger. A DAG with a data interval then gets no run of its own
            # for the same logical date; a manual run without one (tillflow_ingest) can still be
            # joined by a catch-up run of the latest interval, which its summary accounts for.
            client.unpause(step.dag_id)
            print(f"    triggered {step.dag_id} run {run_id}")
            try:
                state = client.wait_for_run(
                    step.dag_id, run_id, timeout=step.wait_seconds, progress=_progress(step.dag_id)
                )
            except AirflowApiError as exc:
                print(f"    {exc}", flush=True)
                state = "unfinished"
            report.append(f"[{step.dag_id}] {state}")
            if state != "success":
                failed = True
                report.append(f"    see the run in the UI: {af.base_url}/dags/{step.dag_id}")
                break
            report.extend(f"    {line}" for line in step.summarize(client, run_id))
        if not failed:
            docs_ok, lines = _downstream_report(client)
            report.extend(lines)
            lake_ok, lines = _lakehouse_report(client, settings)
            report.extend(lines)
            failed = not (docs_ok and lake_ok)
        if not failed:
            report.append("[kafka] messages per topic")
            report.extend(
                f"    {name:<36} {count:>10,}"
                for name, count in topic_counts(settings.kafka.connection).items()
            )
    finally:
        client.close()
    print("\n== summary")
    for line in report:
        print(line)
    print(f"\ndemo {'FAILED' if failed else 'finished'} in {time.monotonic() - t0:.0f}s")
    print(f"Airflow UI: {af.base_url}  (login {af.admin_user} / {af.admin_password})")
    ss = settings.superset
    print(
        f"Dashboards: {ss.base_url}/superset/dashboard/sales/ and "
        f"{ss.base_url}/superset/dashboard/operations/  (login {ss.admin_user} / {ss.admin_password})"
    )
    print("the stack keeps running: `make down` stops it")
    return 1 if failed else 0


def main() -> None:
    sys.exit(run(Settings.from_env()))
