"""`tillflow bench day`: one chain day through the platform, stage by stage, each beside the limit
of this machine it is judged against, all measured in the same run on the running stack.

0. the OLTP reference data (idempotent, as `tillflow generate reference`), which CDC carries to
   the warehouse while the day is generated;
1. limit: PostgreSQL's COPY of pre-parsed scans into a table of raw's shape (a scratch database
   with the warehouse's migrations, dropped at the end), rows/s;
2. generate + ingest: `tillflow generate history` of the day into the broker while the stack's
   continuous ingestion lands it; ingestion's rate is the day's scans over the time until the
   last one landed (generation overlaps it: the broker's budget holds the producers back when
   ingestion falls behind), exactly once checked on the day's scan ids; the CPU each side
   spent over it (``tillflow_bench.cpu``: the generator, the broker, the Spark job, the
   warehouse's PostgreSQL) and the ceilings those costs per scan set on this machine's cores;
3. floor of the ELT: one plain SQL statement computing the day's sales per store and
   business date straight from raw (the latest price of each item, the store's time zone);
4. ELT: `dbt build` of the day alone, then `tillflow_elt_daily` through the scheduler (the GX
   gates included), as `tillflow bench elt-dag`; the ratio of the two and where the DAG's time
   goes;
5. serving: the day's rows of `serving.daily_sales_summary` (mart + speed layer), read once.

Needs the stack with its continuous ingestion (`TILLFLOW_INGEST_CONTINUOUS=1 tillflow up`). The
day must be the daily DAG's latest interval (yesterday, the default) unless the DAG is unpaused.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from tillflow import config
from tillflow.adapters.warehouse import drop_database, prepare_warehouse, warehouse_dsn
from tillflow.config import Settings
from tillflow.jobs.generators.reference_load import bootstrap_oltp
from tillflow_bench import elt_dag
from tillflow_bench.broker_budget import StackSampler, generate_history, wait_landed
from tillflow_bench.cpu import CpuMeter, CpuUse, ingest_lines
from tillflow_bench.ingest import pg_limit

SCRATCH_DB = "tillflow_bench_day"
INGEST_TARGET = 150_000  # scans/s over a whole chain day (the full-chain-day issue's target)
WAL_BOUND_GB = 4

#: Sales per store and business date from raw alone: the least work the ELT's mart can cost.
FLOOR_SQL = """
with prices as (
    select distinct on ((after ->> 'item_id')::int)
        (after ->> 'item_id')::int as item_id, (after ->> 'unit_price')::numeric as unit_price
    from raw.cdc_changes
    where source_table = 'item_master' and after is not null
    order by (after ->> 'item_id')::int, source_lsn desc
),
zones as (
    select distinct on ((after ->> 'store_id')::int)
        (after ->> 'store_id')::int as store_id, after ->> 'timezone' as timezone
    from raw.cdc_changes
    where source_table = 'stores' and after is not null
    order by (after ->> 'store_id')::int, source_lsn desc
)
select count(*), coalesce(sum(sales), 0) from (
    select
        s.store_id,
        (s.scanned_at at time zone z.timezone)::date as business_date,
        sum(s.quantity * p.unit_price) as sales
    from raw.pos_scans as s
    join prices as p on p.item_id = s.item_id
    join zones as z on z.store_id = s.store_id
    where s.kafka_topic = %(topic)s and s.scanned_at >= %(start)s and s.scanned_at < %(end)s
    group by 1, 2
) as per_store_day
"""

SERVING_SQL = """
select count(*), coalesce(sum(total_quantity), 0) from serving.daily_sales_summary
where business_date between %(day)s::date - 1 and %(day)s::date + 1
"""


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    rows: int
    limit: str = ""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _timed(dsn: str, sql: str, params: dict[str, Any]) -> tuple[float, tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        row = conn.execute(sql, params).fetchone()
        return time.perf_counter() - t0, tuple(row or ())


def run(settings: Settings, day: date, stores: int | None, pg_rows: int, timeout: float) -> int:
    from tillflow.runtime.managed.ingest import ingest

    if ingest(settings).pid() is None:
        print(
            "bench day: the continuous ingestion is not running; start the stack with it:"
            " TILLFLOW_INGEST_CONTINUOUS=1 tillflow up",
            file=sys.stderr,
        )
        return 2
    pg = settings.postgres
    dsn = pg.dsn(config.DB_WAREHOUSE, pg.ingest)
    start = datetime.combine(day, datetime.min.time(), UTC)
    end = start + timedelta(days=1)
    print(f"bench day {day}: {stores or 'all'} stores; load {os.getloadavg()[0]:.1f}", flush=True)

    # The ELT prices each scan and places its store from the reference data that CDC carries:
    # on a stack that was never bootstrapped, every scan would be unpriced and the day's tests
    # would fail (as a first full-scale run here did).
    print("0/5 the OLTP reference data (loaded where missing) ...", flush=True)
    bootstrap_oltp(pg.dsn(config.DB_OLTP, pg.api))

    print("1/5 PostgreSQL COPY limit (scratch database, raw's shape) ...", flush=True)
    prepare_warehouse(settings, SCRATCH_DB, fresh=True)
    try:
        copy_rate = pg_limit(warehouse_dsn(settings, SCRATCH_DB), pg_rows, "direct")
    finally:
        drop_database(pg.dsn("postgres"), SCRATCH_DB)
    print(f"    COPY limit {copy_rate:,.0f} rows/s", flush=True)

    # The broker's memory and pg_wal over every stage that writes (the operations issue's
    # bounds: the broker's budget, pg_wal under 4 GB for a day ingested and built with CDC on).
    sampler = StackSampler(settings, every=5)
    sampler.start()
    print("2/5 generate the day while the continuous ingestion lands it ...", flush=True)
    since = datetime.now(UTC)
    meter = CpuMeter(settings)
    meter.start()
    produced, gen_seconds = generate_history(day.isoformat(), day.isoformat(), stores)
    print(f"    generated {produced:,} scans in {gen_seconds:.0f}s", flush=True)
    used: list[CpuUse] = []  # the CPU until the last scan landed, not the count after it
    rows, distinct, ingest_seconds = wait_landed(
        dsn, (start, end), since, produced, timeout, lambda: used.append(meter.stop())
    )
    ingest_cpu = used[0] if used else meter.stop()
    print(
        f"    landed {rows:,} scans ({distinct:,} distinct) in {ingest_seconds:.0f}s:"
        f" {rows / max(ingest_seconds, 1e-9):,.0f}/s",
        flush=True,
    )
    cpu_lines = ingest_lines(ingest_cpu, rows, ingest_seconds)
    for line in cpu_lines:
        print(f"    {line}", flush=True)

    print("3/5 the ELT's floor: one SQL statement from raw ...", flush=True)
    params = {"topic": config.TOPICS.scans, "start": start, "end": end}
    floor_seconds, (floor_groups, _floor_sales) = _timed(dsn, FLOOR_SQL, params)
    print(f"    {floor_seconds:.1f}s, {floor_groups} store-days", flush=True)

    print("4/5 the ELT: dbt alone, then the daily DAG through the scheduler ...", flush=True)
    try:
        elt = elt_dag.run_bench(settings, day, timeout=timeout)
    except RuntimeError as exc:  # a failed build: the stages above are printed, and why
        sampler.stop()
        print(f"bench day: the ELT failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1

    print("5/5 serving: the day's rows of serving.daily_sales_summary ...", flush=True)
    reader = pg.dsn(config.DB_WAREHOUSE, pg.dbt)
    serving_seconds, (serving_rows, _qty) = _timed(reader, SERVING_SQL, {"day": day})

    samples = sampler.stop()
    budget = settings.kafka_memory_budget_mb << 20
    rss_peak = max((x.rss for x in samples), default=0)
    wal_peak = max((x.pg_wal for x in samples), default=0)
    slot_peak = max((x.slot_held for x in samples), default=0)
    wh_wal_peak = max((x.warehouse_wal for x in samples), default=0)

    stages = [
        Stage("generate", gen_seconds, produced),
        Stage(
            "ingest (until the last scan landed)",
            ingest_seconds,
            rows,
            f"COPY limit {copy_rate:,.0f}/s; target {INGEST_TARGET:,}/s",
        ),
        Stage("ELT floor (one SQL statement)", floor_seconds, rows),
        Stage("ELT: dbt build alone", elt.dbt_seconds, rows),
        Stage(
            "ELT: tillflow_elt_daily (scheduler)",
            elt.dag_seconds,
            rows,
            f"{elt.ratio:.2f}x dbt alone, {elt.dag_seconds / floor_seconds:.1f}x the floor"
            if floor_seconds > 0
            else "",
        ),
        Stage("serving read", serving_seconds, int(serving_rows)),
    ]
    print(f"\nday {day}: {produced:,} scans; load {os.getloadavg()[0]:.1f}")
    print(f"{'stage':<40} {'seconds':>8} {'rows/s':>12}  against")
    for s in stages:
        print(f"{s.name:<40} {s.seconds:8.1f} {s.rate:12,.0f}  {s.limit}")
    print(
        f"floor: {floor_groups} store-days; exactly once: landed {rows:,}, distinct {distinct:,},"
        f" produced {produced:,}"
    )
    for line in cpu_lines:
        print(line)
    for line in elt.lines(target_ratio=1.5)[4:]:
        print(line)
    print(
        f"broker RSS peak {rss_peak / 2**20:,.0f} MB of its {budget >> 20} MB budget;"
        f" OLTP's pg_wal peak {wal_peak / 2**30:.2f} GB (bound {WAL_BOUND_GB} GB), of which a"
        f" replication slot held at most {slot_peak / 2**30:.2f} GB; the warehouse's pg_wal"
        f" peak {wh_wal_peak / 2**30:.2f} GB"
    )
    ingest_rate = rows / ingest_seconds if ingest_seconds > 0 else 0.0
    checks = {
        f"ingestion >= {INGEST_TARGET:,}/s": ingest_rate >= INGEST_TARGET,
        "every scan landed once": rows == distinct == produced,
        "daily DAG green": elt.state == "success",
        "DAG <= 1.5x dbt alone": elt.ratio <= 1.5,
        "DAG <= 15 min": elt.dag_seconds <= 900,
        "broker within its budget": rss_peak <= budget,
        f"pg_wal < {WAL_BOUND_GB} GB": wal_peak < WAL_BOUND_GB * 2**30,
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1
