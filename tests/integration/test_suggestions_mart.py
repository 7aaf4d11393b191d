"""The warehouse mart of suggestions (``marts.suggestions_daily``) on the deterministic raw fixtures
plus suggestion rows of this test's own: a second suggested order on the fixture's suggestion day
and a re-delivered ``suggestion_added`` event. Runs dbt in a database of its own
(``tillflow_it_suggestions_mart``) on the mart and its parents only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from tillflow.adapters.warehouse import prepare_warehouse
from tillflow.config import Settings
from tillflow.jobs.elt import dbt, fixtures

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TEST_DB = "tillflow_it_suggestions_mart"
ALL_DAYS = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))
SUGGESTION_DAY = (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
#: The mart and its parents, with the data tests whose parents are all built (fct_sales is not);
#: dbt unit tests are the core models' own business (tests/integration/test_warehouse_elt.py).
SELECT = (
    "--select", "+suggestions_daily", "--indirect-selection", "cautious",
    "--exclude-resource-type", "unit_test",
)  # fmt: skip
MART_COLUMNS = (
    "order_count, suggested_order_count, suggested_line_count, suggested_quantity,"
    " suggested_gross_revenue, suggestion_discount, suggested_net_revenue, suggestion_rate_pct"
)

#: This test's own order: diamond customer, ACB bank transfer, same store and day as the
#: fixture's suggested order 9_000_003; its suggestion (50 % off 10000.00) is delivered twice.
OWN_ORDER = 9_000_101
OWN_EVENT = 9_100_001
OWN_AT = datetime(2026, 3, 3, 14, tzinfo=UTC)


def _own_rows() -> fixtures.RawRows:
    rows = fixtures.build_rows()
    topic, store, cust, pm = fixtures.ORDER_TOPIC, 900_001, 9_000_003, 9_003
    ing = OWN_AT + timedelta(seconds=1)
    created, added, redelivered = OWN_EVENT, OWN_EVENT + 1, OWN_EVENT + 2
    for offset, (event_id, event_type) in enumerate(
        (
            (created, "order_created"),
            (added, "suggestion_added"),
            (redelivered, "suggestion_added"),
        ),
        start=100,
    ):
        rows.orders.append(
            (event_id, event_type, OWN_ORDER, cust, pm, store, OWN_AT, topic, 0, offset, ing)
        )
    rows.order_lines.append(
        (created, OWN_ORDER, 1, 9_000_005, 2, Decimal("3000.00"), "none", Decimal("0"), False,
         topic, 0, 100, ing)
    )  # fmt: skip
    for offset, event_id in ((101, added), (102, redelivered)):
        rows.order_lines.append(
            (event_id, OWN_ORDER, 2, 9_000_002, 1, Decimal("10000.00"), "percentage",
             Decimal("50"), True, topic, 0, offset, ing + timedelta(seconds=1))
        )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def dbt_dsn() -> Iterator[str]:
    settings = Settings.from_env()
    pg = settings.postgres
    admin = prepare_warehouse(settings, TEST_DB)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "drop schema if exists staging, intermediate, snapshots, core, marts, serving cascade"
        )
    fixtures.clear(admin)
    fixtures.load(admin, _own_rows())
    dsn = pg.dsn(TEST_DB, pg.dbt)
    run = dbt.build_interval(dsn, *ALL_DAYS, *SELECT)
    print(f"\ndbt build +suggestions_daily over 3 days: {run.seconds:.1f}s")
    yield dsn


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def test_the_suggestion_day_counts_both_suggestions_once_with_revenue_and_discount(
    dbt_dsn: str,
) -> None:
    # Given two suggested orders in store 900_001 on 2026-03-03 (one suggestion re-delivered):
    #   20000.00 at 30 % off (the fixture's) and 10000.00 at 50 % off (this test's)
    # When the mart is built  Then the store-day counts two suggestions, not three
    rows = _rows(
        dbt_dsn,
        f"select {MART_COLUMNS} from marts.suggestions_daily"
        " where order_date = '2026-03-03' and store_id = 900001",
    )
    assert rows == [
        (
            2,
            2,
            2,
            2,
            Decimal("30000.00"),
            Decimal("11000.00"),
            Decimal("19000.00"),
            Decimal("100.00"),
        )
    ]


def test_store_days_without_suggestions_are_present_with_zeros(dbt_dsn: str) -> None:
    rows = _rows(
        dbt_dsn,
        "select order_date, store_id, order_count, suggested_order_count,"
        " suggested_gross_revenue, suggestion_rate_pct from marts.suggestions_daily"
        " where suggested_order_count = 0 order by order_date, store_id",
    )
    zero, pct = Decimal("0"), Decimal("0.00")
    assert rows == [
        (date(2026, 3, 2), 900_001, 1, 0, zero, pct),
        (date(2026, 3, 2), 900_002, 1, 0, zero, pct),
        (date(2026, 3, 3), 900_003, 1, 0, zero, pct),
        (date(2026, 3, 4), 900_002, 1, 0, zero, pct),
    ]


def test_every_store_day_matches_fct_order_lines(dbt_dsn: str) -> None:
    # Given the fact of order lines  When aggregated independently per day and store
    # Then the mart holds exactly the same figures, store-day by store-day
    expected = _rows(
        dbt_dsn,
        "select order_date, store_id, count(distinct order_id),"
        " count(distinct order_id) filter (where is_suggestion),"
        " coalesce(sum(extended_sales) filter (where is_suggestion), 0),"
        " coalesce(sum(extended_discount) filter (where is_suggestion), 0)"
        " from core.fct_order_lines group by 1, 2 order by 1, 2",
    )
    actual = _rows(
        dbt_dsn,
        "select order_date, store_id, order_count, suggested_order_count,"
        " suggested_gross_revenue, suggestion_discount from marts.suggestions_daily"
        " order by 1, 2",
    )
    assert len(actual) == 5
    assert actual == expected


def test_rerunning_the_suggestion_day_replaces_it_exactly(dbt_dsn: str) -> None:
    query = "select * from marts.suggestions_daily order by order_date, store_id"
    before = _rows(dbt_dsn, query)
    dbt.build_interval(dbt_dsn, *SUGGESTION_DAY, "--select", "suggestions_daily")
    assert _rows(dbt_dsn, query) == before
