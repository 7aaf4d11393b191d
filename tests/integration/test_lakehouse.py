"""The lakehouse export against the running stack's PostgreSQL: a day's Iceberg rows equal the
mart's (count and total to the cent), a re-run adds no snapshot, a rebuilt day replaces its
partition alone, and `tillflow sql` runs the sample queries.

Everything lives in the test's own databases (``tillflow_it_lake``: the fixture warehouse, built
by dbt; ``tillflow_it_lake_catalog``: the Iceberg catalog) and a temporary warehouse folder, all
dropped at the end: the user's warehouse and lakehouse are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.compute as pc
import pytest

from tillflow.adapters import iceberg
from tillflow.adapters.warehouse import drop_database, prepare_warehouse
from tillflow.config import LakehouseSettings, Settings
from tillflow.jobs.elt import dbt, fixtures
from tillflow.jobs.lakehouse import days, export, tables

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

WAREHOUSE_DB = "tillflow_it_lake"
CATALOG_DB = "tillflow_it_lake_catalog"
D = fixtures.FIXTURE_DAYS[1]
#: A raw scan of the last hour, for the sample query of recent events.
RECENT_SCAN_ID = "lakehouse-it-recent"

SAMPLE_REVENUE = """SELECT store_id, sale_date, SUM(total_sales) as revenue
FROM marts.daily_sales_summary
GROUP BY store_id, sale_date
ORDER BY sale_date DESC;"""
SAMPLE_RECENT = """SELECT * FROM raw.pos_transactions
WHERE event_time > current_date - interval '1' day;"""


@dataclass(frozen=True)
class Lake:
    settings: Settings
    warehouse_dsn: str
    admin_dsn: str
    catalog_dsn: str
    lake: LakehouseSettings
    recent_day: date

    def catalog(self) -> Any:
        return iceberg.open_catalog(self.catalog_dsn, self.lake)

    def export(self, plan: days.ExportPlan) -> list[export.DayExport]:
        return export.export(self.warehouse_dsn, self.catalog(), plan)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TILLFLOW_LAKEHOUSE_DB": CATALOG_DB,
            "TILLFLOW_LAKEHOUSE_WAREHOUSE": self.lake.warehouse,
        }


@pytest.fixture(scope="module")
def lake(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    pg = stack.postgres
    admin = prepare_warehouse(stack, WAREHOUSE_DB)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "drop schema if exists staging, intermediate, snapshots, core, marts, serving cascade"
        )
    fixtures.clear(admin)
    fixtures.load(admin)
    recent = datetime.now(UTC) - timedelta(hours=1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "insert into raw.pos_scans (scan_id, store_id, checkstand_id, item_id, quantity,"
            " scanned_at, schema_version, kafka_topic, kafka_partition, kafka_offset)"
            " values (%s, %s, 1, %s, 1, %s, 1, %s, 0, 999999)",
            (RECENT_SCAN_ID, fixtures.STORES[0], 9_000_001, recent, fixtures.SCAN_TOPIC),
        )
    warehouse_dsn = pg.dsn(WAREHOUSE_DB, pg.dbt)
    first, last = fixtures.FIXTURE_DAYS[0], fixtures.FIXTURE_DAYS[-1]
    run = dbt.build_interval(
        warehouse_dsn,
        datetime(first.year, first.month, first.day, tzinfo=UTC),
        datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
    )
    assert run.ok
    folder = tmp_path_factory.mktemp("lakehouse")
    drop_database(pg.dsn("postgres"), CATALOG_DB)
    iceberg.ensure_catalog_database(pg.dsn("postgres"), CATALOG_DB, pg.dbt.name)
    yield Lake(
        stack,
        warehouse_dsn,
        admin,
        pg.dsn(CATALOG_DB, pg.dbt),
        LakehouseSettings(str(folder), CATALOG_DB),
        recent.date(),
    )
    drop_database(pg.dsn("postgres"), CATALOG_DB)
    drop_database(pg.dsn("postgres"), WAREHOUSE_DB)
    shutil.rmtree(folder, ignore_errors=True)


def _mart_day(lake: Lake, day: date) -> tuple[int, Decimal]:
    with psycopg.connect(lake.warehouse_dsn) as conn:
        row = conn.execute(
            "select count(*), coalesce(sum(total_sales), 0) from marts.daily_sales_summary"
            " where business_date = %s",
            (day,),
        ).fetchone()
    assert row is not None
    return int(row[0]), Decimal(row[1])


def _lake_rows(lake: Lake, table: tables.LakeTable, day: date) -> Any:
    lake_table = lake.catalog().load_table(table.identifier)
    return lake_table.scan(row_filter=f"{table.day_column} = '{day.isoformat()}'").to_arrow()


def _lake_day(lake: Lake, day: date) -> tuple[int, Decimal]:
    data = _lake_rows(lake, tables.DAILY_SALES_SUMMARY, day)
    total = pc.sum(data["total_sales"]).as_py() if data.num_rows else Decimal(0)
    return data.num_rows, Decimal(total)


def _sorted(data: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(r.values()) for r in data.to_pylist())


def _snapshots(lake: Lake) -> dict[str, int]:
    catalog = lake.catalog()
    return {
        t.identifier: iceberg.snapshot_count(catalog.load_table(t.identifier))
        for t in tables.TABLES
    }


@pytest.fixture(scope="module")
def exported(lake: Lake) -> list[export.DayExport]:
    """Every fixture day exported once, and the day of the recent scan."""
    plan = days.for_days(fixtures.FIXTURE_DAYS) | days.ExportPlan(frozenset({lake.recent_day}))
    return lake.export(plan)


def test_an_exported_day_equals_the_mart_to_the_cent(
    lake: Lake, exported: list[export.DayExport]
) -> None:
    for day in fixtures.FIXTURE_DAYS:
        rows, total = _mart_day(lake, day)
        assert rows > 0
        assert _lake_day(lake, day) == (rows, total)
    with psycopg.connect(lake.warehouse_dsn) as conn:
        raw = conn.execute(
            "select count(*) from raw.pos_scans where (scanned_at at time zone 'UTC')::date = %s",
            (D,),
        ).fetchone()
    assert raw is not None
    assert _lake_rows(lake, tables.POS_SCANS, D).num_rows == raw[0] > 0
    assert all(r.written for r in exported if r.rows)


def test_a_rerun_of_the_day_changes_nothing(lake: Lake, exported: list[export.DayExport]) -> None:
    before = _snapshots(lake)
    content = {t.identifier: _sorted(_lake_rows(lake, t, D)) for t in tables.TABLES}
    again = lake.export(days.for_days([D]))
    assert [r.written for r in again] == [False] * len(tables.TABLES)
    assert _snapshots(lake) == before
    assert {t.identifier: _sorted(_lake_rows(lake, t, D)) for t in tables.TABLES} == content


def test_a_rebuilt_day_replaces_its_partition_and_no_other(
    lake: Lake, exported: list[export.DayExport]
) -> None:
    neighbour = fixtures.FIXTURE_DAYS[0]
    untouched = _sorted(_lake_rows(lake, tables.DAILY_SALES_SUMMARY, neighbour))
    snapshots = _snapshots(lake)[tables.DAILY_SALES_SUMMARY.identifier]
    # Given the mart of the day changed: one row repriced by a cent, one row gone
    with psycopg.connect(lake.warehouse_dsn, autocommit=True) as conn:
        conn.execute(
            "update marts.daily_sales_summary set total_sales = total_sales + 0.01"
            " where business_date = %s and product_id = %s",
            (D, fixtures.PRICE_CHANGE_ITEM),
        )
        conn.execute(
            "delete from marts.daily_sales_summary where business_date = %s and ctid ="
            " (select min(ctid) from marts.daily_sales_summary where business_date = %s"
            "  and product_id <> %s)",
            (D, D, fixtures.PRICE_CHANGE_ITEM),
        )
    # When the day is exported again
    (result,) = export.export(
        lake.warehouse_dsn,
        lake.catalog(),
        days.ExportPlan(mart_days=frozenset({D})),
        tables=(tables.DAILY_SALES_SUMMARY,),
    )
    # Then its partition is the mart's new rows, in a new snapshot; the other days are as they were
    assert result.written
    assert _lake_day(lake, D) == _mart_day(lake, D)
    assert _snapshots(lake)[tables.DAILY_SALES_SUMMARY.identifier] > snapshots
    assert _sorted(_lake_rows(lake, tables.DAILY_SALES_SUMMARY, neighbour)) == untouched


def test_a_late_scan_replaces_its_raw_day(lake: Lake, exported: list[export.DayExport]) -> None:
    before = _lake_rows(lake, tables.POS_SCANS, D).num_rows
    late_at = datetime(D.year, D.month, D.day, 23, 59, 59, tzinfo=UTC)
    with psycopg.connect(lake.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "insert into raw.pos_scans (scan_id, store_id, checkstand_id, item_id, quantity,"
            " scanned_at, schema_version, kafka_topic, kafka_partition, kafka_offset)"
            " values ('lakehouse-it-late', %s, 1, %s, 2, %s, 1, %s, 0, 999998)",
            (fixtures.STORES[1], 9_000_002, late_at, fixtures.SCAN_TOPIC),
        )
    (result,) = export.export(
        lake.warehouse_dsn,
        lake.catalog(),
        days.ExportPlan(raw_days=frozenset({D})),
        tables=(tables.POS_SCANS,),
    )
    assert result.written and result.rows == before + 1
    scan_ids = _lake_rows(lake, tables.POS_SCANS, D).column("scan_id").to_pylist()
    assert len(scan_ids) == before + 1 and "lakehouse-it-late" in scan_ids


def test_s3_settings_reach_the_catalog_s_file_io(lake: Lake) -> None:
    s3 = (("s3.endpoint", "http://127.0.0.1:9"), ("s3.region", "us-east-1"))
    settings = LakehouseSettings("s3://bucket/lake", CATALOG_DB, catalog_name="s3_probe", s3=s3)
    catalog = iceberg.open_catalog(lake.catalog_dsn, settings)
    assert catalog.properties["warehouse"] == "s3://bucket/lake"
    assert catalog.properties["s3.endpoint"] == "http://127.0.0.1:9"
    assert catalog.properties["s3.region"] == "us-east-1"


def _tillflow(lake: Lake, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillflow.entrypoints.cli", *args],
        env=lake.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_sample_queries_run_through_tillflow_sql(
    lake: Lake, exported: list[export.DayExport]
) -> None:
    revenue = _tillflow(lake, "sql", SAMPLE_REVENUE)
    assert revenue.returncode == 0, revenue.stderr
    lines = revenue.stdout.splitlines()
    assert lines[0].split() == ["store_id", "sale_date", "revenue"]
    assert lines[-1] == f"({len(fixtures.STORES) * len(fixtures.FIXTURE_DAYS)} rows)"
    recent = _tillflow(lake, "sql", SAMPLE_RECENT)
    assert recent.returncode == 0, recent.stderr
    assert RECENT_SCAN_ID in recent.stdout and "event_time" in recent.stdout.splitlines()[0]


def test_a_bad_query_exits_2_with_duckdb_s_message(lake: Lake) -> None:
    bad = _tillflow(lake, "sql", "SELECT nope FROM marts.daily_sales_summary")
    assert bad.returncode == 2
    assert "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_the_export_command_reports_each_table_day(
    lake: Lake, exported: list[export.DayExport]
) -> None:
    out = _tillflow(lake, "lakehouse", "export", "--database", WAREHOUSE_DB, "--day", str(D))
    assert out.returncode == 0, out.stderr
    assert "0 of 3 table-days written" in out.stdout
    counts = _tillflow(lake, "lakehouse", "tables")
    assert counts.returncode == 0, counts.stderr
    assert "raw.pos_scans" in counts.stdout and "not exported yet" not in counts.stdout


def test_the_warehouse_folder_holds_the_tables(
    lake: Lake, exported: list[export.DayExport]
) -> None:
    folder = Path(lake.lake.warehouse)
    assert (folder / "marts" / "daily_sales_summary" / "metadata").is_dir()
    assert list((folder / "raw" / "pos_scans" / "data").glob(f"scan_date={D}/*.parquet"))
