"""Late events and the lambda serving views, on the deterministic raw fixtures in a database of
their own (``tillflow_it_elt_late``). Two dbt builds in all: the first fixture day, then the same
day again after a late scan for it has landed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tillflow.adapters.warehouse import prepare_warehouse
from tillflow.config import Settings
from tillflow.jobs.elt import dbt, fixtures, late_days
from tillflow.jobs.elt.reconcile import watch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TEST_DB = "tillflow_it_elt_late"
DAY = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
#: A scan of the first day (15:30) that lands after that day was batched.
LATE_SCAN_ID = "1a7e" * 8
LATE_AT = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
LATE_STORE, LATE_ITEM, LATE_QTY = fixtures.STORES[0], 9_000_002, 3
#: 03:30 UTC on the second day is 21:30 of the first in the fixture stores' America/Chicago.
EVENING_SCAN_ID = "e7e7" * 8
EVENING_AT = datetime(2026, 3, 3, 3, 30, tzinfo=UTC)
#: The ledger tests advance it for the run of a day a month later: the built day is far outside
#: that run's look-back, and its entries must move all the same (else the serving views read
#: every arrival since its build).
LATER_RUN_DAY = DAY[1].date() + timedelta(days=30)
#: A day's fct_sales entry in the facts' ledger: its arrival cutoff.
FACT_CUTOFF = "select min(arrivals_through) from core.fact_batches where fact = 'fct_sales' and sale_date = %s"


def _price(item: int, at: datetime) -> Decimal:
    """The fixture's price of an item at a moment (the rules of fixtures.py, independently)."""
    if item == fixtures.INSERTED_ITEM:
        return fixtures.INSERTED_PRICE
    if item == fixtures.PRICE_CHANGE_ITEM and at >= fixtures.PRICE_CHANGE_AT:
        return fixtures.PRICE_AFTER
    return fixtures.ITEMS[item][2]


def expected_pos_totals(extra: Sequence[tuple[Any, ...]] = ()) -> tuple[int, int, Decimal]:
    """(lines, quantity, sales) of every fixture scan, voids resolved, priced at scan time."""
    rows = [*fixtures.build_rows().pos_scans, *extra]
    voided = {r[0] for r in rows if r[4] == 0}
    sold: dict[str, tuple[Any, ...]] = {}
    for r in sorted(rows, key=lambda r: (r[0], r[5])):
        if r[4] > 0 and r[0] not in voided:
            sold.setdefault(r[0], r)
    lines = len(sold)
    quantity = sum(int(r[4]) for r in sold.values())
    sales = sum((r[4] * _price(r[3], r[5]) for r in sold.values()), Decimal(0))
    return lines, quantity, sales


def expected_order_totals() -> tuple[int, Decimal, Decimal]:
    """(lines, sales, discount) of every fixture order line, by the discount rules of docs/business-rules.md."""
    lines: dict[tuple[int, int], tuple[Any, ...]] = {}
    for r in fixtures.build_rows().order_lines:
        lines.setdefault((r[1], r[2]), r)
    sales = sum((r[4] * r[5] for r in lines.values()), Decimal(0))
    discount = Decimal(0)
    for r in lines.values():
        qty, price, kind, value = r[4], r[5], r[6], r[7]
        per_unit = {"percentage": price * value / 100, "fixed_amount": value * 1000}.get(
            kind, Decimal(0)
        )
        discount += qty * per_unit
    return len(lines), sales, discount


@pytest.fixture(scope="module")
def dsns() -> Iterator[dict[str, str]]:
    settings = Settings.from_env()
    pg = settings.postgres
    admin = prepare_warehouse(settings, TEST_DB)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "drop schema if exists staging, intermediate, snapshots, core, marts, serving cascade"
        )
    fixtures.clear(admin)
    fixtures.load(admin)
    yield {"admin": admin, "dbt": pg.dsn(TEST_DB, pg.dbt)}


def _one(dsn: str, query: str, *params: object) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(row)


def _serving_totals(dsn: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select channel, line_count, total_quantity, total_sales, total_discount"
            " from serving.total_sales"
        ).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def _pos_probe(dsn: str, expected: tuple[int, int, Decimal]) -> Any:
    """For ``watch.Sampler``: the serving views whose POS totals (lines, quantity, sales) differ
    from ``expected``, serving.total_sales and serving.daily_sales_summary (both layers summed)."""

    def probe() -> list[tuple[str, tuple[Any, ...]]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            summary = conn.execute(
                "select sum(scan_count), sum(total_quantity), sum(total_sales)"
                " from serving.daily_sales_summary"
            ).fetchone()
            total = conn.execute(
                "select line_count, total_quantity, total_sales"
                " from serving.total_sales where channel = 'pos'"
            ).fetchone()
        return [
            (view, tuple(got or ()))
            for view, got in (("daily_sales_summary", summary), ("total_sales", total))
            if got is None or tuple(got) != expected
        ]

    return probe


def serving_sampler(dsn: str, expected: tuple[int, int, Decimal]) -> watch.Sampler:
    """Reads both serving views every 50 ms in a thread while dbt builds."""
    return watch.Sampler(_pos_probe(dsn, expected), every=0.05)


def assert_exact(sampler: watch.Sampler) -> None:
    report = sampler.report
    assert report.samples > 10 and report.errors == [], report.errors[:3]
    assert report.differing == [], (
        f"{len(report.differing)} of {report.samples} samples differ: {report.first_difference[:3]}"
    )


@pytest.fixture(scope="module")
def first_day_built(dsns: dict[str, str]) -> dict[str, str]:
    dbt.build_interval(dsns["dbt"], *DAY)
    return dsns


def test_serving_totals_are_batch_plus_not_yet_batched_and_exact(
    first_day_built: dict[str, str],
) -> None:
    dsn = first_day_built["dbt"]
    # Given only the first of three fixture days is batched
    batched_days = _one(dsn, "select count(distinct sale_date) from core.fct_sales")
    assert batched_days == (1,)
    layers = _one(
        dsn,
        "select count(*) filter (where layer = 'batch'), count(*) filter (where layer = 'speed')"
        " from serving.daily_sales_summary",
    )
    assert layers[0] > 0 and layers[1] > 0
    # When the serving views are read  Then every channel's totals equal the exact totals
    lines, quantity, sales = expected_pos_totals()
    totals = _serving_totals(dsn)
    assert totals["pos"][:3] == (lines, quantity, sales)
    order_lines, order_sales, order_discount = expected_order_totals()
    assert (totals["orders"][0], totals["orders"][2], totals["orders"][3]) == (
        order_lines,
        order_sales,
        order_discount,
    )
    # And the batch part alone is less than the total (the speed layer carries the rest)
    batch_sales = _one(dsn, "select sum(total_sales) from marts.daily_sales_summary")[0]
    assert 0 < batch_sales < sales


def test_a_late_scan_is_counted_in_its_own_day_when_that_day_is_run_again(
    first_day_built: dict[str, str],
) -> None:
    dsn, admin = first_day_built["dbt"], first_day_built["admin"]
    fact_day = "select count(*), sum(quantity) from core.fct_sales where sale_date = %s"
    summary = (
        "select coalesce(sum(total_quantity), 0) from marts.daily_sales_summary"
        " where business_date = %s and store_id = %s and product_id = %s"
    )
    before_fact = _one(dsn, fact_day, DAY[0].date())
    before_summary = _one(dsn, summary, DAY[0].date(), LATE_STORE, LATE_ITEM)[0]
    other_days = _one(
        dsn, "select count(*) from core.fct_sales where sale_date <> %s", DAY[0].date()
    )
    # Given a scan of the batched day that lands after the day was built (an offline till)
    late = (LATE_SCAN_ID, LATE_STORE, 1, LATE_ITEM, LATE_QTY, LATE_AT, 1, "fixture.late", 0, 0,
            datetime.now(UTC))  # fmt: skip
    fixtures.load(admin, fixtures.RawRows(pos_scans=[late]))
    # Then the serving views count it at once: it arrived after the build's cutoff
    expected = expected_pos_totals([late])
    assert _serving_totals(dsn)["pos"][:3] == expected
    # And a run two days later finds it late by arrival, and the unbuilt day after it too
    found = late_days.find_late_days(dsn, DAY[0].date() + timedelta(days=2), lookback_days=2)
    assert [(d.day, d.scans, d.orders) for d in found] == [
        (DAY[0].date(), 1, 0),
        (DAY[1].date(), 0, 0),
    ]
    assert found[0].reason.startswith("events arrived since its build")
    assert found[1].reason == "never built"
    # When that day is run again, with readers of the serving views all along
    with serving_sampler(dsn, expected) as sampler:
        dbt.build_interval(dsn, *DAY)
    # Then no reader ever found a serving view missing (dbt's views are replaced in place), nor
    # a total that counted the late scan twice or not at all (the batch ledger moves with the
    # marts, in their transactions)
    assert_exact(sampler)
    # Then the late scan is a sale of its own day, once, at the price valid at its scan time
    after_fact = _one(dsn, fact_day, DAY[0].date())
    assert after_fact == (before_fact[0] + 1, before_fact[1] + LATE_QTY)
    row = _one(
        dsn, "select sale_date, unit_price from core.fct_sales where scan_id = %s", LATE_SCAN_ID
    )
    assert row == (DAY[0].date(), _price(LATE_ITEM, LATE_AT))
    assert _one(dsn, summary, DAY[0].date(), LATE_STORE, LATE_ITEM)[0] == before_summary + LATE_QTY
    # And no other day changed, and the serving totals stay exact with the late scan in them
    assert (
        _one(dsn, "select count(*) from core.fct_sales where sale_date <> %s", DAY[0].date())
        == other_days
    )
    assert _serving_totals(dsn)["pos"][:3] == expected_pos_totals([late])
    # And once rebuilt, the day is no longer late
    found = late_days.find_late_days(dsn, DAY[0].date() + timedelta(days=1), lookback_days=1)
    assert found == []


def test_a_late_void_and_a_run_that_failed_part_way_keep_serving_exact(
    first_day_built: dict[str, str],
) -> None:
    dsn, admin = first_day_built["dbt"], first_day_built["admin"]
    # Given a batched scan of the first day, and a void for it that lands only now
    scan = next(
        r for r in fixtures.build_rows().pos_scans
        if DAY[0] <= r[5] < DAY[1] and r[4] > 0
        and sum(1 for o in fixtures.build_rows().pos_scans if o[0] == r[0]) == 1
    )  # fmt: skip
    assert _one(dsn, "select count(*) from core.fct_sales where scan_id = %s", scan[0]) == (1,)
    void = (scan[0], scan[1], scan[2], scan[3], 0, scan[5] + timedelta(minutes=2), 1,
            "fixture.late", 0, 1, datetime.now(UTC))  # fmt: skip
    fixtures.load(admin, fixtures.RawRows(pos_scans=[void]))
    late = (LATE_SCAN_ID, LATE_STORE, 1, LATE_ITEM, LATE_QTY, LATE_AT, 1, "fixture.late", 0, 0,
            None)  # fmt: skip
    expected = expected_pos_totals([late, void])
    # Then the serving views take the voided scan back at once (the mart still holds it)
    assert _serving_totals(dsn)["pos"][:3] == expected
    # When a run of that day fails part way: its facts are rebuilt, a test on them fails and
    # every mart after them is skipped
    variables = {
        **dbt.interval_vars(*DAY),
        "arrivals_through": late_days.arrival_cutoff(dsn).isoformat(),
        **watch.FAILING_VARS,
    }
    mart_sales = "select sum(total_sales) from marts.daily_sales_summary"
    mart_before = _one(dsn, mart_sales)
    with serving_sampler(dsn, expected) as sampler:
        failed = dbt.run_dbt(["build"], dsn, variables, check=False)
    assert not failed.ok and "fct_sales_unknown_item_share" in failed.output
    assert _one(dsn, "select count(*) from core.fct_sales where scan_id = %s", scan[0]) == (0,)
    assert _one(dsn, mart_sales) == mart_before  # the marts still hold the voided scan
    # Then the serving views were exact all along, and are after the failed run
    assert_exact(sampler)
    assert _serving_totals(dsn)["pos"][:3] == expected
    # And a run that succeeds leaves them exact, the void now in the marts
    with serving_sampler(dsn, expected) as sampler:
        dbt.build_interval(dsn, *DAY)
    assert_exact(sampler)
    assert _serving_totals(dsn)["pos"][:3] == expected


def test_the_ledger_moves_clean_days_up_to_a_new_cutoff_and_keeps_a_late_day_where_it_was(
    first_day_built: dict[str, str],
) -> None:
    dsn, admin = first_day_built["dbt"], first_day_built["admin"]
    ledger = (
        "select min(arrivals_through), max(arrivals_through), count(*) from core.mart_batches"
        " where sale_date = %s and fact = 'fct_sales'"
    )
    # Given a built day, a first cutoff, and nothing of that day arriving after it
    first = late_days.arrival_cutoff(dsn)
    assert late_days.advance_ledger(dsn, first, LATER_RUN_DAY, lookback_days=1).stale_days == ()
    moved = _one(dsn, ledger, DAY[0].date())[:2]
    assert moved[0] >= first  # none is behind the cutoff (a later build's may be ahead of it)
    totals = _serving_totals(dsn)
    # When a scan of that day arrives, then the next cutoff is taken and the ledger advanced
    extra = ("5ca7" * 8, LATE_STORE, 1, LATE_ITEM, 1, LATE_AT, 1, "fixture.late", 0, 2,
             datetime.now(UTC))  # fmt: skip
    fixtures.load(admin, fixtures.RawRows(pos_scans=[extra]))
    second = late_days.arrival_cutoff(dsn)
    after_late = late_days.advance_ledger(dsn, second, LATER_RUN_DAY, 1)
    # Then the day keeps its cutoffs (the marts do not hold the scan), is named as a day to
    # build again, and the scan is counted once
    assert _one(dsn, ledger, DAY[0].date())[:2] == moved
    assert DAY[0].date() in after_late.stale_days
    assert _serving_totals(dsn)["pos"][0] == totals["pos"][0] + 1
    # And with nothing more arriving, a later cutoff moves every clean entry, that day's none
    third = late_days.arrival_cutoff(dsn)
    again = late_days.advance_ledger(dsn, third, LATER_RUN_DAY, 1)
    assert (again.facts, again.marts) == (after_late.facts, after_late.marts)
    assert after_late.facts > 0 and after_late.marts > 0
    assert _one(dsn, ledger, DAY[0].date())[:2] == moved
    assert _serving_totals(dsn)["pos"][0] == totals["pos"][0] + 1
    # And once the day is built again, its entries carry that build's cutoff
    dbt.build_interval(dsn, *DAY, arrivals_through=third)
    assert _one(dsn, ledger, DAY[0].date())[:2] == (third, third)
    assert _serving_totals(dsn)["pos"][0] == totals["pos"][0] + 1


def test_an_evening_sale_is_booked_on_the_store_local_business_date(
    first_day_built: dict[str, str],
) -> None:
    dsn, admin = first_day_built["dbt"], first_day_built["admin"]
    local_day = DAY[0].date()
    summary = (
        "select coalesce(sum(total_quantity), 0) from marts.daily_sales_summary"
        " where business_date = %s and store_id = %s and product_id = %s"
    )
    before = _one(dsn, summary, local_day, LATE_STORE, LATE_ITEM)[0]
    # Given a Chicago store's scan at 21:30 local time, already the next day in UTC
    evening = (EVENING_SCAN_ID, LATE_STORE, 1, LATE_ITEM, 2, EVENING_AT, 1, "fixture.evening", 0,
               0, EVENING_AT)  # fmt: skip
    fixtures.load(admin, fixtures.RawRows(pos_scans=[evening]))
    # When the run of the next UTC day builds
    dbt.build_interval(dsn, DAY[1], DAY[1] + timedelta(days=1))
    # Then the fact keeps both days and the store's daily figures book it on its local date
    row = _one(
        dsn, "select sale_date, business_date from core.fct_sales where scan_id = %s",
        EVENING_SCAN_ID,
    )  # fmt: skip
    assert row == (DAY[1].date(), local_day)
    assert _one(dsn, summary, local_day, LATE_STORE, LATE_ITEM)[0] == before + 2
    # And the business date's mart equals its facts, across both UTC days it spans
    mart_total = _one(
        dsn, "select sum(total_sales) from marts.daily_sales_summary where business_date = %s",
        local_day,
    )  # fmt: skip
    fact_total = _one(
        dsn, "select sum(extended_sales) from core.fct_sales where business_date = %s", local_day
    )
    assert mart_total == fact_total


def test_a_late_day_rebuild_does_not_wait_on_a_day_an_earlier_failed_run_left_half_built(
    first_day_built: dict[str, str],
) -> None:
    dsn, admin = first_day_built["dbt"], first_day_built["admin"]
    cutoff = late_days.arrival_cutoff(dsn)
    # Given a failed run that left one intermediate without the first day (the others have it)
    with psycopg.connect(admin) as conn:
        conn.execute(
            "delete from intermediate.int_product_daily_sales where sale_date = %s",
            (DAY[0].date(),),
        )
    # When the next run first rebuilds another (late) day: a plain build of it fails on the
    # all-days check of the top-sellers mart against total_sales
    with pytest.raises(RuntimeError, match="top_sellers_products_sales_match_total_sales"):
        dbt.build_interval(dsn, DAY[1], DAY[1] + timedelta(days=1), arrivals_through=cutoff)
    # Then the late-day rebuild leaves that check to the run's own build, and succeeds
    run = dbt.rebuild_late_day(dsn, DAY[1].date(), cutoff)
    assert run.seconds > 0
    # And the run's own build of the half-built day heals it, the all-days checks included
    dbt.build_interval(dsn, *DAY, arrivals_through=cutoff)
    total = "select sum(extended_sales) from {} where channel = 'pos'"
    assert _one(dsn, total.format("intermediate.int_product_daily_sales")) == _one(
        dsn, total.format("intermediate.int_daily_sales")
    )


def _next_day_scan_arrives(
    admin: str, dsn: str, quantity: int, offset: int
) -> tuple[datetime, late_days.LedgerAdvance]:
    """A scan of 5 past midnight after the first day lands; the next cutoff is taken and the
    ledger advanced with it. Returns the cutoff and what moved."""
    at = DAY[1] + timedelta(minutes=5)
    row = ("5a1e" * 8, LATE_STORE, 1, LATE_ITEM, quantity, at, 1, "fixture.next", 0, offset,
           datetime.now(UTC))  # fmt: skip
    fixtures.load(admin, fixtures.RawRows(pos_scans=[row]))
    cutoff = late_days.arrival_cutoff(dsn)
    return cutoff, late_days.advance_ledger(dsn, cutoff, LATER_RUN_DAY, 1)


def test_a_sale_of_the_next_day_leaves_a_day_clean_and_a_void_of_the_next_day_does_not(
    first_day_built: dict[str, str],
) -> None:
    dsn, admin = first_day_built["dbt"], first_day_built["admin"]
    # Given the first day built with a cutoff
    dbt.build_interval(dsn, *DAY, arrivals_through=late_days.arrival_cutoff(dsn))
    # When a sale of the next day arrives (fct_sales reads only the next day's voids)
    after_sale, moved = _next_day_scan_arrives(admin, dsn, quantity=2, offset=0)
    # Then the first day's fact entry moves up to the new cutoff
    assert _one(dsn, FACT_CUTOFF, DAY[0].date()) == (after_sale,)
    assert DAY[0].date() not in moved.stale_days
    # And when a void of the next day arrives (it may cancel a scan of the first day)
    _, kept = _next_day_scan_arrives(admin, dsn, quantity=0, offset=1)
    # Then the first day's entry keeps its cutoff, and the day is named to be built again
    assert _one(dsn, FACT_CUTOFF, DAY[0].date()) == (after_sale,)
    assert DAY[0].date() in kept.stale_days
