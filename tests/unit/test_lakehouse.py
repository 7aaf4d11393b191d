"""The lakehouse export's pure parts: which days a run exports, when a day is written again, how
PostgreSQL's CSV becomes exact Arrow values, the settings, and the query views and output."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tillflow.adapters.iceberg import arrow_type, catalog_url
from tillflow.config import LakehouseSettings, Settings
from tillflow.jobs.lakehouse import days, export, fingerprint, query, tables
from tillflow_airflow.lakehouse import elt_intervals

pytestmark = pytest.mark.unit

D = date(2026, 3, 3)


# --- days ---------------------------------------------------------------------------------


def test_a_daily_run_exports_its_raw_day_and_the_business_dates_around_it() -> None:
    plan = days.for_interval(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    assert plan.raw_days == {D}
    assert plan.mart_days == {date(2026, 3, 2), D, date(2026, 3, 4)}


def test_an_interval_ending_at_midnight_does_not_reach_the_next_utc_day() -> None:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    assert days.utc_days(start, end) == [date(2026, 3, 1), date(2026, 3, 2)]


def test_runs_and_lookback_add_up_and_no_run_falls_back_to_the_lookback() -> None:
    run = (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    plan = days.for_runs([run], today=date(2026, 12, 1), lookback=2)
    assert plan.raw_days == {date(2026, 3, 1), date(2026, 3, 2), D}
    assert min(plan.mart_days) == date(2026, 3, 1) and max(plan.mart_days) == date(2026, 3, 4)
    alone = days.for_runs([], today=D, lookback=2)
    assert alone.days == [date(2026, 3, 1), date(2026, 3, 2)]


def test_a_plan_survives_xcom() -> None:
    plan = days.for_interval(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))
    assert days.ExportPlan.from_dict(plan.as_dict()) == plan


@pytest.mark.parametrize(
    "bad",
    [
        lambda: days.day_range(D, date(2026, 3, 1)),
        lambda: days.for_lookback(D, -1),
        lambda: days.utc_days(datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
    ],
)
def test_impossible_day_ranges_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


@dataclass
class _Run:
    data_interval_start: datetime | None
    data_interval_end: datetime | None


@dataclass
class _Event:
    source_dag_id: str | None
    source_run_id: str | None
    source_dag_run: _Run | None


def test_the_dag_reads_each_elt_run_once_from_the_marts_events() -> None:
    interval = (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    run = _Run(*interval)
    events = {
        "marts.a": [_Event("tillflow_elt_daily", "r1", run), _Event(None, None, None)],
        "marts.b": [_Event("tillflow_elt_daily", "r1", run), _Event("other", "r2", run)],
    }
    assert elt_intervals(events, "tillflow_elt_daily") == {"r1": interval}


# --- fingerprints ---------------------------------------------------------------------------


def test_the_newest_export_of_the_day_is_the_one_compared() -> None:
    old = fingerprint.Fingerprint(10, "111", 1)
    new = fingerprint.Fingerprint(12, "222", 1)
    other_day = fingerprint.Fingerprint(5, "333", 1)
    summaries = [
        other_day.properties(date(2026, 3, 4)),
        new.properties(D),
        old.properties(D),
        {"added-records": "3"},  # a snapshot not written by the export
    ]
    assert fingerprint.last_export(summaries, D) == new
    assert fingerprint.last_export(summaries, date(2026, 3, 9)) is None


@pytest.mark.parametrize(
    ("last", "source", "write"),
    [
        (None, fingerprint.Fingerprint(0, "0", 1), False),  # never exported, nothing there
        (None, fingerprint.Fingerprint(3, "9", 1), True),
        (fingerprint.Fingerprint(3, "9", 1), fingerprint.Fingerprint(3, "9", 1), False),
        (fingerprint.Fingerprint(3, "9", 1), fingerprint.Fingerprint(3, "8", 1), True),  # changed
        (fingerprint.Fingerprint(3, "9", 1), fingerprint.Fingerprint(0, "0", 1), True),  # emptied
        (fingerprint.Fingerprint(3, "9", 1), fingerprint.Fingerprint(3, "9", 2), True),  # columns
    ],
)
def test_a_day_is_written_only_when_its_rows_changed(
    last: fingerprint.Fingerprint | None, source: fingerprint.Fingerprint, write: bool
) -> None:
    assert fingerprint.needs_export(last, source) is write


def test_a_summary_without_the_export_s_properties_is_no_fingerprint() -> None:
    assert fingerprint.Fingerprint.from_properties({"tillflow.rows": "x"}) is None


# --- tables and the CSV they are read from ------------------------------------------------


def test_every_table_selects_its_columns_of_one_day() -> None:
    for table in tables.TABLES:
        assert "{day}" in table.select and table.day_column in table.names
    assert tables.by_name(["pos_scans", "marts.daily_sales_summary"]) == (
        tables.POS_SCANS,
        tables.DAILY_SALES_SUMMARY,
    )
    with pytest.raises(ValueError, match="unknown lakehouse tables"):
        tables.by_name(["marts.nope"])


def test_a_table_without_its_day_column_is_refused() -> None:
    with pytest.raises(ValueError, match="no day column"):
        tables.LakeTable("x", "y", (("a", "int"),), "day", "select 1")


def _read(text: str, table: tables.LakeTable, chunk_rows: int = 10) -> list[dict[str, object]]:
    chunks = export.read_csv_chunks(io.BytesIO(text.encode()), table, chunk_rows)
    return [row for chunk in chunks for row in chunk.to_pylist()]


def test_postgres_csv_becomes_exact_values_null_and_empty_text_apart() -> None:
    # PostgreSQL quotes a value only when it must: a product named N/A or NULL comes bare.
    rows = _read(
        '1,2,2026-03-03,,5,6,1.50\n3,4,2026-03-03,"",5,6,2\n5,6,2026-03-03,"a, ""b""",1,1,0.01\n'
        "7,8,2026-03-03,N/A,1,1,0.10\n9,9,2026-03-03,NULL,1,1,0.20\n",
        tables.DAILY_SALES_SUMMARY,
    )
    assert [r["product"] for r in rows] == [None, "", 'a, "b"', "N/A", "NULL"]
    assert [r["total_sales"] for r in rows] == [
        Decimal("1.50"),
        Decimal("2.00"),
        Decimal("0.01"),
        Decimal("0.10"),
        Decimal("0.20"),
    ]
    assert sum(r["total_sales"] for r in rows) == Decimal("3.81")  # type: ignore[misc]


def test_timestamps_arrive_as_epoch_microseconds_and_stay_utc() -> None:
    line = "s1,1,2,3,1,1772539200123456,1,pos.scans,0,42,1772539201000000,2026-03-03\n"
    (row,) = _read(line, tables.POS_SCANS)
    assert row["scanned_at"] == datetime(2026, 3, 3, 12, 0, 0, 123456, tzinfo=UTC)
    assert row["scan_date"] == D and row["kafka_offset"] == 42


def test_a_fraction_of_a_cent_fails_instead_of_being_rounded() -> None:
    with pytest.raises(Exception, match="data loss"):
        _read("1,2,2026-03-03,x,5,6,1.005\n", tables.DAILY_SALES_SUMMARY)


def test_rows_are_cut_into_bounded_chunks() -> None:
    text = "".join(f"{i},1,2026-03-03,p,1,1,1.00\n" for i in range(5000))
    chunks = list(export.read_csv_chunks(io.BytesIO(text.encode()), tables.DAILY_SALES_SUMMARY, 1))
    assert sum(c.num_rows for c in chunks) == 5000
    assert len(chunks) >= 1 and all(c.schema.field("total_sales").type.scale == 2 for c in chunks)


def test_the_copy_reader_joins_chunks_of_any_size() -> None:
    reader = io.BufferedReader(export.CopyReader(iter([b"ab", b"", memoryview(b"cde"), b"f"])))
    assert reader.read() == b"abcdef"


def test_column_types_map_to_arrow() -> None:
    assert str(arrow_type("decimal(18,2)")) == "decimal128(18, 2)"
    assert str(arrow_type("timestamptz")) == "timestamp[us, tz=UTC]"
    with pytest.raises(ValueError):
        arrow_type("float")


# --- settings and the catalog ---------------------------------------------------------------


def test_the_lakehouse_defaults_to_a_folder_of_the_state_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("TILLFLOW_HOME", str(tmp_path))
    for var in ("TILLFLOW_LAKEHOUSE_WAREHOUSE", "TILLFLOW_LAKEHOUSE_DB"):
        monkeypatch.delenv(var, raising=False)
    lake = Settings.from_env().lakehouse
    assert lake.warehouse == f"{tmp_path}/lakehouse"
    assert lake.warehouse_uri == f"file://{tmp_path}/lakehouse"
    assert (lake.catalog_database, lake.file_io_properties()) == ("lakehouse", {})


def test_s3_storage_is_configured_by_variables_and_secrets_are_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TILLFLOW_LAKEHOUSE_WAREHOUSE", "s3://bucket/lake")
    monkeypatch.setenv("TILLFLOW_LAKEHOUSE_S3_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("TILLFLOW_LAKEHOUSE_S3_SECRET_ACCESS_KEY", "hush")
    lake = Settings.from_env().lakehouse
    assert lake.warehouse_uri == "s3://bucket/lake"
    assert lake.file_io_properties() == {
        "s3.endpoint": "http://127.0.0.1:9000",
        "s3.secret-access-key": "hush",
    }
    assert "hush" not in repr(lake)
    assert LakehouseSettings.from_extra(lake.to_extra(), lake.catalog_database) == lake


def test_an_unknown_s3_property_is_refused() -> None:
    with pytest.raises(ValueError, match="not lakehouse S3 properties"):
        LakehouseSettings("/tmp/x", s3=(("s3.bogus", "1"),))


def test_the_catalog_url_quotes_the_password() -> None:
    url = catalog_url("host=h port=5 dbname=lake user=u password=p@ss:/w")
    assert url == "postgresql+psycopg://u:p%40ss%3A%2Fw@h:5/lake"


# --- the query views and their output ---------------------------------------------------


def test_the_views_add_the_sample_queries_names() -> None:
    sql = query.view_sql(tables.DAILY_SALES_SUMMARY, "marts.daily_sales_summary", "src")
    assert sql.endswith('select *, "business_date" as "sale_date" from src')
    raw = query.view_sql(tables.POS_SCANS, "raw.pos_transactions", "src")
    assert '"raw"."pos_transactions"' in raw and '"scanned_at" as "event_time"' in raw


def test_local_files_are_read_in_place_and_object_storage_is_not() -> None:
    assert query.local_path("file:///tmp/a%20b/x.parquet") == "/tmp/a b/x.parquet"
    assert query.local_path("/tmp/x.parquet") == "/tmp/x.parquet"
    assert query.local_path("s3://bucket/x.parquet") is None
    assert query.source_sql(["/tmp/it's.parquet"]) == (
        "read_parquet(['/tmp/it''s.parquet'], union_by_name = true)"
    )


def test_results_print_as_an_aligned_table() -> None:
    result = query.Result(["store", "revenue"], [("a", Decimal("10.50")), ("bb", None)])
    assert query.format_table(result).splitlines() == [
        "store  revenue",
        "-----  -------",
        "a        10.50",
        "bb        NULL",
        "(2 rows)",
    ]
    assert query.format_table(result, max_rows=1).splitlines()[-1] == "(2 rows) (1 more not shown)"


# --- the demo's summary ---------------------------------------------------------------------


def test_the_demo_summary_lists_each_iceberg_table_s_rows() -> None:
    from tillflow.config import PROJECT_ROOT
    from tillflow.entrypoints.demo import LAKE_DAG, lakehouse_lines

    exports = [
        {"table": "raw.pos_scans", "rows": 1200, "written": True},
        {"table": "marts.daily_sales_summary", "rows": 40, "written": False},
    ]
    counts = {
        "raw.pos_scans": 1200,
        "marts.daily_sales_summary": 40,
        "marts.suggestions_daily": None,
    }
    lines = lakehouse_lines(exports, counts)
    assert lines[0].split() == [
        "exported",
        "1",
        "of",
        "2",
        "table-days",
        "(1,200",
        "rows",
        "written)",
    ]
    assert lines[1].split() == ["raw.pos_scans", "1,200", "rows"]
    assert lines[3].split() == ["marts.suggestions_daily", "not", "exported", "yet"]
    assert (PROJECT_ROOT / "dags" / f"{LAKE_DAG}.py").is_file()
