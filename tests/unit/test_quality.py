"""Pure pieces of the warehouse quality package: fixture rows, gate specs, dbt interval vars."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tillflow.jobs.elt import dbt, fixtures, gates

pytestmark = pytest.mark.unit

DAY = (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))


def test_fixture_rows_are_deterministic_and_have_unique_kafka_coordinates() -> None:
    # Given two builds  When compared  Then identical, and no coordinate is used twice per table
    first, second = fixtures.build_rows(), fixtures.build_rows()
    assert first == second
    for table, rows in first.tables():
        cols = fixtures.COLUMNS[table]
        topic, part, off = (
            cols.index(c) for c in ("kafka_topic", "kafka_partition", "kafka_offset")
        )
        extra = (cols.index("line_no"),) if table == "order_lines" else ()
        keys = Counter((r[topic], r[part], r[off], *(r[i] for i in extra)) for r in rows)
        assert max(keys.values()) == 1, table
        assert all(r[topic].startswith(fixtures.FIXTURE_TOPIC_PREFIX) for r in rows)


def test_fixture_sells_the_repriced_item_before_and_after_its_change() -> None:
    scans = fixtures.build_rows().pos_scans
    times = [s[5] for s in scans if s[3] == fixtures.PRICE_CHANGE_ITEM]
    assert any(t < fixtures.PRICE_CHANGE_AT for t in times)
    assert any(t >= fixtures.PRICE_CHANGE_AT for t in times)


def test_fixture_voids_a_scan_by_resending_it_with_quantity_zero() -> None:
    events = [s for s in fixtures.build_rows().pos_scans if s[0] == fixtures.VOIDED_SCAN_ID]
    assert sorted(e[4] for e in events)[0] == 0 and len(events) == 2


def test_fixture_deletes_an_item_after_it_sold() -> None:
    rows = fixtures.build_rows()
    deletes = [c for c in rows.cdc_changes if c[1] == "d"]
    assert len(deletes) == 1 and deletes[0][5] == fixtures.DELETED_AT
    sold = [s[5] for s in rows.pos_scans if s[3] == fixtures.DELETED_ITEM]
    assert sold and max(sold) < fixtures.DELETED_AT


@pytest.mark.parametrize("build", [gates.raw_checks, gates.mart_checks])
def test_gate_checks_are_scoped_to_the_interval(build: gates.Check) -> None:
    checks = build(*DAY)  # type: ignore[operator]
    assert checks and all(c.expectations for c in checks)
    scoped = [c for c in checks if DAY[0].isoformat() in c.query]
    assert scoped and all(DAY[1].isoformat() in c.query for c in scoped)


@pytest.mark.parametrize("build", [gates.raw_checks, gates.mart_checks])
def test_gate_checks_refuse_naive_bounds(build: gates.Check) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(datetime(2026, 3, 3), datetime(2026, 3, 4))  # type: ignore[operator]


def test_raw_gate_checks_timestamp_skew_and_quantity_range() -> None:
    scans = gates.raw_checks(*DAY)[0]
    kinds = {(e.kind, e.kwargs.get("column")) for e in scans.expectations}
    assert ("ExpectColumnValuesToBeBetween", "ingest_lag_seconds") in kinds
    assert ("ExpectColumnValuesToBeBetween", "quantity") in kinds


@pytest.mark.parametrize(
    ("start", "end", "error"),
    [
        (datetime(2026, 3, 3), datetime(2026, 3, 4), "timezone-aware"),
        (DAY[1], DAY[0], "empty interval"),
        (DAY[0], DAY[0], "empty interval"),
    ],
)
def test_interval_vars_reject_bad_intervals(start: datetime, end: datetime, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        dbt.interval_vars(start, end)


def test_interval_vars_are_iso_bounds() -> None:
    assert dbt.interval_vars(DAY[0], DAY[0] + timedelta(days=1)) == {
        "data_interval_start": "2026-03-03T00:00:00+00:00",
        "data_interval_end": "2026-03-04T00:00:00+00:00",
    }


def test_dbt_env_maps_a_dsn_and_refuses_socket_paths() -> None:
    env = dbt.dbt_env("host=127.0.0.1 port=55432 dbname=w user=u password=p", base={})
    assert (env["TILLFLOW_DBT_HOST"], env["TILLFLOW_DBT_PORT"], env["TILLFLOW_DBT_DBNAME"]) == (
        "127.0.0.1",
        "55432",
        "w",
    )
    with pytest.raises(ValueError, match="TCP host"):
        dbt.dbt_env("host=/tmp port=5432 dbname=w user=u", base={})
