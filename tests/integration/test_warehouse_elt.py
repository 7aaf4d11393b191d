"""The warehouse end to end on deterministic raw fixtures: dbt build per interval, SCD2 pricing,
idempotent re-runs, and the GX gates. Runs in a database of its own (``tillflow_it_elt``) so other
DAGs writing to ``warehouse`` cannot interfere; two dbt builds in all (each costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from tillflow.adapters.warehouse import prepare_warehouse
from tillflow.config import Settings
from tillflow.jobs.elt import dbt, fixtures, gates, marts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

TEST_DB = "tillflow_it_elt"
ALL_DAYS = (
    datetime(2026, 3, 2, tzinfo=UTC),
    datetime(2026, 3, 5, tzinfo=UTC),
)
PRICE_DAY = (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))


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


@pytest.fixture(scope="module")
def built(dsns: dict[str, str]) -> dict[str, object]:
    """Build all fixture days in one run, then re-run the price-change day alone."""
    first = dbt.build_interval(dsns["dbt"], *ALL_DAYS)
    before = marts.mart_hashes(dsns["dbt"])
    # The indexes an earlier version of fct_sales had, which the re-run must drop
    with psycopg.connect(dsns["admin"], autocommit=True) as conn:
        conn.execute("create index on core.fct_sales (scanned_at)")
        conn.execute("create index on core.fct_sales (scan_id)")
    partitions_before = _partitions(dsns["dbt"], "core.fct_sales")
    rerun = dbt.build_interval(dsns["dbt"], *PRICE_DAY)
    after = marts.mart_hashes(dsns["dbt"])
    print(f"\ndbt build 3 days: {first.seconds:.1f}s; re-run of one day: {rerun.seconds:.1f}s")
    for name in before:
        print(f"  {name:<28} before {before[name]}  after {after[name]}")
    return {
        "before": before,
        "after": after,
        "partitions_before": partitions_before,
        "partitions_after": _partitions(dsns["dbt"], "core.fct_sales"),
    }


def _partitions(dsn: str, parent: str) -> dict[str, int]:
    """Each partition of ``parent`` by its bounds, with the oid of the table holding it."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select pg_get_expr(c.relpartbound, c.oid), c.oid::int from pg_inherits as i"
            " join pg_class as c on c.oid = i.inhrelid where i.inhparent = %s::regclass",
            (parent,),
        ).fetchall()
    return {str(bound): int(oid) for bound, oid in rows}


def _rows(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def test_scans_before_and_after_a_mid_day_price_change_carry_their_own_prices(
    dsns: dict[str, str], built: dict[str, object]
) -> None:
    # Given the fixture item repriced at 12:00 with scans at 11:00 and 13:00 that day
    # When the fact is built  Then each scan carries the price valid at its scan time
    rows = _rows(
        dsns["dbt"],
        "select scanned_at, quantity, unit_price, extended_sales from core.fct_sales"
        " where item_id = %s and sale_date = %s order by scanned_at",
        fixtures.PRICE_CHANGE_ITEM,
        fixtures.PRICE_CHANGE_AT.date(),
    )
    before = [r for r in rows if r[0] < fixtures.PRICE_CHANGE_AT]  # type: ignore[operator]
    after = [r for r in rows if r[0] >= fixtures.PRICE_CHANGE_AT]  # type: ignore[operator]
    assert before and after
    assert {r[2] for r in before} == {fixtures.PRICE_BEFORE}
    assert {r[2] for r in after} == {fixtures.PRICE_AFTER}
    assert all(r[3] == r[1] * r[2] for r in rows)  # type: ignore[operator]


def test_a_deleted_item_is_closed_and_its_past_sales_still_join(
    dsns: dict[str, str], built: dict[str, object]
) -> None:
    versions = _rows(
        dsns["dbt"],
        "select product_key, valid_to, is_current, is_deleted from core.dim_products"
        " where item_id = %s",
        fixtures.DELETED_ITEM,
    )
    assert len(versions) == 1
    key, valid_to, is_current, is_deleted = versions[0]
    assert (valid_to, is_current, is_deleted) == (fixtures.DELETED_AT, False, True)
    sales = _rows(
        dsns["dbt"],
        "select s.unit_price, p.item_name from core.fct_sales s"
        " join core.dim_products p using (product_key) where s.item_id = %s",
        fixtures.DELETED_ITEM,
    )
    assert len(sales) == 2
    assert all(price == fixtures.ITEMS[fixtures.DELETED_ITEM][2] for price, _ in sales)
    assert key != "-1"


def test_a_voided_scan_is_not_a_sale(dsns: dict[str, str], built: dict[str, object]) -> None:
    rows = _rows(
        dsns["dbt"],
        "select count(*) from core.fct_sales where scan_id = %s",
        fixtures.VOIDED_SCAN_ID,
    )
    assert rows == [(0,)]


def test_order_line_discounts_follow_the_design_rules(
    dsns: dict[str, str], built: dict[str, object]
) -> None:
    rows = _rows(
        dsns["dbt"],
        "select discount_type, discount_per_unit, extended_discount, profit from core.fct_order_lines"
        " where order_id = 9000002 and line_no = 1",
    )
    # 3 x 30000.00 with a fixed amount of 5 (x 1000): 5000 per unit
    assert rows == [("fixed_amount", Decimal("5000.00"), Decimal("15000.00"), Decimal("75000.00"))]


@pytest.mark.parametrize(
    ("table", "day"),
    [
        ("core.fct_sales", "(scanned_at at time zone 'UTC')::date"),
        ("marts.daily_sales_summary", "business_date"),
    ],
)
def test_the_big_tables_hold_each_day_in_a_partition_of_its_own(
    dsns: dict[str, str], built: dict[str, object], table: str, day: str
) -> None:
    kind = _rows(dsns["dbt"], "select relkind from pg_class where oid = %s::regclass", table)
    assert kind == [("p",)]
    per_partition = _rows(
        dsns["dbt"],
        f"select tableoid::regclass::text, min({day}), max({day}) from {table} group by 1",
    )
    # Three fixture days, each alone in its partition (the re-run day too)
    assert len(per_partition) == 3
    assert all(first == last for _, first, last in per_partition)
    assert len({first for _, first, _ in per_partition}) == 3


def test_fct_sales_holds_no_index_after_a_run_even_where_an_earlier_version_made_them(
    dsns: dict[str, str], built: dict[str, object]
) -> None:
    # Its day partitions are its index: random-order index inserts cost a full-scale day 24 min
    indexes = _rows(
        dsns["dbt"],
        "select indexrelid::regclass::text from pg_index where indrelid in"
        " (select 'core.fct_sales'::regclass union all"
        "  select inhrelid from pg_inherits where inhparent = 'core.fct_sales'::regclass)",
    )
    assert indexes == []


def test_rerunning_a_day_exchanges_its_partition_and_keeps_the_others(
    built: dict[str, object],
) -> None:
    # A rebuilt day is a new table in place of the old one: a delete would leave the old rows
    # in the partition beside the new ones until a vacuum, and every later read would read both.
    before, after = built["partitions_before"], built["partitions_after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert before.keys() == after.keys() and len(before) == 3
    rebuilt = {bound for bound in before if before[bound] != after[bound]}
    assert rebuilt == {b for b in before if f"FROM ('{PRICE_DAY[0]:%Y-%m-%d} 00:00:00+00')" in b}, (
        before,
        after,
    )


def test_rerunning_a_day_leaves_every_mart_identical(built: dict[str, object]) -> None:
    assert built["before"] == built["after"]
    assert all(not h.startswith("0:") for h in built["before"].values())  # type: ignore[attr-defined]


def test_marts_gate_passes_and_a_bad_raw_row_fails_the_raw_gate(
    dsns: dict[str, str], built: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> None:
    gx_root = tmp_path_factory.mktemp("gx")
    report = gates.run_gate(
        "marts_gate", gates.mart_checks(*PRICE_DAY), dsns["dbt"], PRICE_DAY, gx_root=gx_root
    )
    assert report.success and len(report.results) > 5
    raw = gates.run_gate(
        "raw_gate", gates.raw_checks(*PRICE_DAY), dsns["dbt"], PRICE_DAY, gx_root=gx_root
    )
    assert raw.success
    # Given a scan from the future of its own ingestion (clock skew) with a quantity out of range
    bad_at = PRICE_DAY[0] + timedelta(hours=20)
    with psycopg.connect(dsns["admin"]) as conn:
        conn.execute(
            "insert into raw.pos_scans (scan_id, store_id, checkstand_id, item_id, quantity,"
            " scanned_at, schema_version, kafka_topic, kafka_partition, kafka_offset, ingested_at)"
            " values (%s, 900001, 1, 9000002, 9, %s, 1, 'fixture.bad', 0, 0, %s)",
            ("b" * 32, bad_at, bad_at - timedelta(hours=2)),
        )
    try:
        # When the raw gate validates that day  Then it raises, naming both failed expectations
        with pytest.raises(gates.QualityGateError) as failure:
            gates.run_gate(
                "raw_gate", gates.raw_checks(*PRICE_DAY), dsns["dbt"], PRICE_DAY, gx_root=gx_root
            )
        assert "quantity" in str(failure.value) and "ingest_lag_seconds" in str(failure.value)
    finally:
        with psycopg.connect(dsns["admin"]) as conn:
            conn.execute("delete from raw.pos_scans where kafka_topic = 'fixture.bad'")


def _day_test(dsns: dict[str, str], test: str, *extra: str) -> dbt.DbtRun:
    """One dbt test over PRICE_DAY, as the day's build would run it."""
    cutoff = datetime.now(UTC)
    variables = {**dbt.interval_vars(*PRICE_DAY), "arrivals_through": cutoff.isoformat()}
    return dbt.run_dbt(["test", "--select", test, *extra], dsns["dbt"], variables, check=False)


def test_the_raw_reconciliation_fails_on_one_changed_sale_and_passes_again(
    dsns: dict[str, str], built: dict[str, object]
) -> None:
    test = "assert_fct_sales_matches_raw_scans"
    assert _day_test(dsns, test).ok
    # Given one sale of the day whose quantity no longer matches its raw scan
    change = (
        "update core.fct_sales set quantity = quantity + %s where scan_id ="
        " (select min(scan_id) from core.fct_sales where scanned_at >= %s and scanned_at < %s)"
    )
    with psycopg.connect(dsns["admin"]) as conn:
        conn.execute(change, (1, *PRICE_DAY))
    try:
        # When the reconciliation test runs  Then it fails
        assert not _day_test(dsns, test).ok
    finally:
        with psycopg.connect(dsns["admin"]) as conn:
            conn.execute(change, (-1, *PRICE_DAY))
    assert _day_test(dsns, test).ok


def test_the_row_rules_of_fct_sales_name_each_rule_a_sale_breaks(
    dsns: dict[str, str], built: dict[str, object]
) -> None:
    test = "fct_sales_row_rules"
    assert _day_test(dsns, test).ok
    # Given one sale of the day with a quantity out of range and no price source
    one_sale = (
        " where scan_id = (select min(scan_id) from core.fct_sales"
        " where scanned_at >= %s and scanned_at < %s)"
    )
    with psycopg.connect(dsns["admin"]) as conn:
        before = conn.execute(
            "select quantity, price_source from core.fct_sales" + one_sale, PRICE_DAY
        ).fetchone()
        assert before is not None
        conn.execute(
            "update core.fct_sales set quantity = 7, price_source = null" + one_sale, PRICE_DAY
        )
    try:
        # When the row rules run  Then they fail, and the stored failures name both rules
        assert not _day_test(dsns, test, "--store-failures").ok
        with psycopg.connect(dsns["dbt"]) as conn:
            (schema,) = conn.execute(
                "select table_schema from information_schema.tables where table_name = %s",
                (test,),
            ).fetchone() or ("?",)
            broken = conn.execute(
                f'select rule, breaking_rows from "{schema}".{test} order by 1'
            ).fetchall()
            conn.execute(f'drop table "{schema}".{test}')
        assert broken == [("price_source_accepted", 1), ("quantity_accepted", 1)]
    finally:
        with psycopg.connect(dsns["admin"]) as conn:
            conn.execute(
                "update core.fct_sales set quantity = %s, price_source = %s" + one_sale,
                (*before, *PRICE_DAY),
            )
    assert _day_test(dsns, test).ok
