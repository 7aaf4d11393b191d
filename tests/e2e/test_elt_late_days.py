"""Late data through the scheduler: a scan that lands after its day was built reaches that day's
marts on the next daily run of `tillflow_elt_daily`, triggered through Airflow's REST API and run
by the scheduler like any scheduled run; and a dbt test that fails inside the Cosmos task group
(one producer `dbt build`, a sensor per node) fails the run.

It writes to the stack's warehouse: the fixture reference data (CDC snapshot rows of stores and
items no generator uses, on `fixture.*` topics, so the late scan is priced and its store known,
as the unknown-member share tests require) and one scan, the day before yesterday; it runs
yesterday (the latest interval, so unpausing the DAG schedules nothing else). The failing run is
of the day three days back: a new run, not yesterday's cleared (a cleared run takes Cosmos's
node-by-node fallback, about 10 minutes more). At the end it deletes every `fixture.*` row and
rebuilds those days."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import psycopg
import pytest

from tests.airflow_runs import NO_INGESTION_WAIT, run_alone
from tillflow import config
from tillflow.adapters.airflow_api import AirflowClient
from tillflow.adapters.warehouse import prepare_warehouse
from tillflow.config import Settings
from tillflow.jobs.elt import dbt, fixtures
from tillflow_airflow import assets

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

T = TypeVar("T")
DAG_ID = "tillflow_elt_daily"
TEST_STORE, TEST_ITEM, LATE_QTY = fixtures.STORES[0], 9_000_002, 4
SCAN_ID = "1a7ee2e0" * 4
#: An item no CDC row describes: a day whose only scan is of it fails the unknown-item share test.
UNKNOWN_ITEM = 9_000_999
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
LATE_DAY, NEXT_DAY = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
FAIL_DAY = TODAY - timedelta(days=3)

MART_QUANTITY = (
    "select coalesce(sum(total_quantity), 0) from marts.daily_sales_summary"
    " where business_date = %s and store_id = %s"
)


# Module-scoped: the fixture's CDC rows are loaded once and cleared once (fixtures.clear also
# drops their snapshot versions, which a second load would otherwise duplicate).
@pytest.fixture(scope="module")
def warehouse(stack: Settings) -> Iterator[dict[str, str]]:
    admin = prepare_warehouse(stack)
    pg = stack.postgres
    dsns = {"admin": admin, "dbt": pg.dsn(config.DB_WAREHOUSE, pg.dbt)}
    fixtures.load(admin, fixtures.RawRows(cdc_changes=fixtures.build_rows().cdc_changes))
    yield dsns
    fixtures.clear(admin)
    dbt.build_interval(dsns["dbt"], FAIL_DAY, TODAY)


def _scalar(dsn: str, query: str, *params: object) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def _run_day(
    stack: Settings, day: datetime, read: Callable[[AirflowClient, str], T]
) -> tuple[str, T]:
    """Run (or clear and rerun) the daily ELT of ``day`` through the scheduler; its final state
    and what ``read`` took from the finished run."""
    af = stack.airflow
    client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
    try:
        client.wait_for_dag(DAG_ID)
        run_id, state = run_alone(client, DAG_ID, day, NO_INGESTION_WAIT)
        return state, read(client, run_id)
    finally:
        client.close()


def test_a_late_scan_reaches_its_days_marts_on_the_next_daily_run(
    stack: Settings, warehouse: dict[str, str]
) -> None:
    # Given the day before yesterday built, with what had arrived by then
    dbt.build_interval(warehouse["dbt"], LATE_DAY, LATE_DAY + timedelta(days=1))
    before = _scalar(warehouse["dbt"], MART_QUANTITY, LATE_DAY.date(), TEST_STORE)
    # And a scan of that day landing afterwards (an offline till uploading its backlog)
    scanned_at = LATE_DAY + timedelta(hours=15)
    row = (SCAN_ID, TEST_STORE, 1, TEST_ITEM, LATE_QTY, scanned_at, 1, "fixture.e2e.late", 0, 0,
           datetime.now(UTC))  # fmt: skip
    fixtures.load(warehouse["admin"], fixtures.RawRows(pos_scans=[row]))
    # When the scheduler runs the next day's daily ELT
    state, (rebuilt, events) = _run_day(
        stack,
        NEXT_DAY,
        lambda client, run_id: (
            client.xcom(DAG_ID, run_id, "rebuild_late_days"),
            client.asset_events(DAG_ID, run_id),
        ),
    )
    # Then the run is green, it rebuilt the late day and says why
    assert state == "success"
    # And its marts gate updated every mart's asset (what schedules tillflow_dbt_docs)
    updated = {e["name"] for e in events if e["source_task_id"] == "gx_marts_gate"}
    assert updated == {f"marts.{m}" for m in assets.MARTS}, events
    late = [r for r in rebuilt if r["day"] == LATE_DAY.date().isoformat()]
    assert late and late[0]["scans"] >= 1, rebuilt
    assert late[0]["reason"].startswith("events arrived since its build")
    # And the late scan is in that day's marts, once
    after = _scalar(warehouse["dbt"], MART_QUANTITY, LATE_DAY.date(), TEST_STORE)
    assert after == before + LATE_QTY  # type: ignore[operator]


def test_a_failing_dbt_test_fails_the_daily_run(stack: Settings, warehouse: dict[str, str]) -> None:
    # Given a day holding scans of an item no reference data describes, more than the
    # unknown-item share allows (0.1 %) whatever the day already holds (a demo lands 400,000)
    day_scans = _scalar(
        warehouse["admin"],
        "select count(*) from raw.pos_scans where scanned_at >= %s and scanned_at < %s",
        FAIL_DAY,
        FAIL_DAY + timedelta(days=1),
    )
    rows = [
        (f"0dd17e40{i:024x}", TEST_STORE, 1, UNKNOWN_ITEM, 1, FAIL_DAY + timedelta(hours=12), 1,
         "fixture.e2e.unknown", 0, i, datetime.now(UTC))
        for i in range(int(day_scans) // 500 + 1)  # type: ignore[call-overload]
    ]  # fmt: skip
    fixtures.load(warehouse["admin"], fixtures.RawRows(pos_scans=rows))
    # When the scheduler runs that day's daily ELT (a new run; on a stack that ran this test
    # before, that run replaced)
    since = datetime.now(UTC)
    state, (states, events) = _run_day(
        stack,
        FAIL_DAY,
        lambda client, run_id: (
            client.task_states(DAG_ID, run_id),
            client.asset_events(DAG_ID, run_id),
        ),
    )
    # Then the run fails, on the sensor of fct_sales' tests (the unknown-item share is over),
    # and nothing after the dbt group ran
    assert state == "failed", states
    assert states["dbt.fct_sales.test"] == "failed", states
    assert states["gx_marts_gate"] in {"upstream_failed", "skipped"}, states
    # and no mart asset was updated, so nothing downstream of the marts runs on a failed build
    this_try = [e for e in events if datetime.fromisoformat(e["timestamp"]) >= since]
    assert not [e for e in this_try if str(e["name"]).startswith("marts.")], events
