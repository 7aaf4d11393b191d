"""The reconcile oracle's pure logic: price rounding and history, business days, void matching,
per-(store, day) sums, differences (docs/business-rules.md, "Discounts and sales", "Marts")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from tillflow.domain.generation.model import SCAN_ID_DTYPE, Catalog, Scans, epoch_ms
from tillflow.jobs.elt.reconcile import compare
from tillflow.jobs.elt.reconcile.days import DayGrid, local_day_index, utc_day_index
from tillflow.jobs.elt.reconcile.expected import StoreDayTotals, count_sales, voided_mask
from tillflow.jobs.elt.reconcile.prices import PriceChange, PriceHistory, apply_factor

T0 = datetime(2026, 3, 7, 12, tzinfo=UTC)
ZONES = ("America/New_York", "Pacific/Honolulu")


def ids(*values: int) -> np.ndarray:
    return np.array([v.to_bytes(16, "big") for v in values], dtype="S16").view(SCAN_ID_DTYPE)


def test_a_price_factor_rounds_half_away_from_zero_to_cents_with_a_floor_of_one_cent() -> None:
    # 12.35 x 0.9 = 11.115 -> 11.12; 0.05 x 1.1 = 0.055 -> 0.06; 0.01 x 0.9 -> 0.01
    cents = np.array([1235, 5, 1, 1000])
    assert apply_factor(cents, "0.9").tolist() == [1112, 5, 1, 900]
    assert apply_factor(cents, "1.1").tolist() == [1359, 6, 1, 1100]


def test_a_price_holds_from_its_change_instant_and_changes_compound() -> None:
    item, category = np.array([1, 2]), np.array([7, 8])
    t1, t2 = epoch_ms(T0), epoch_ms(T0 + timedelta(hours=1))
    changes = [PriceChange(t2, 7, "1.1"), PriceChange(t1, 7, "0.9")]  # any order: by instant
    history = PriceHistory.build(item, category, np.array([1000, 500]), changes, t1 - 1)
    at = np.array([t1 - 1, t1, t2 - 1, t2, t2])
    items = np.array([1, 1, 1, 1, 2])
    assert history.cents_at(items, at).tolist() == [1000, 900, 900, 990, 500]
    assert history.current_cents()[1] == 990
    # Changes before the history's start are folded into its first version.
    folded = PriceHistory.build(item, category, np.array([1000, 500]), changes, t1)
    assert folded.cents_at(np.array([1]), np.array([t1])).tolist() == [900]
    with pytest.raises(ValueError, match="before the history"):
        folded.cents_at(np.array([1]), np.array([t1 - 1]))


def test_an_unknown_item_is_priced_at_zero() -> None:
    history = PriceHistory.build(np.array([1]), np.array([1]), np.array([250]), [], 0)
    assert history.cents_at(np.array([1, 99]), np.array([5, 5])).tolist() == [250, 0]


def test_the_business_day_is_the_store_local_date_across_utc_midnight_and_dst() -> None:
    grid = DayGrid(date(2026, 3, 6), 4)
    # 2026-03-08 04:30Z is 23:30 on the 7th in New York (EST) and 18:30 on the 7th in Honolulu;
    # 2026-03-09 03:30Z is 23:30 on the 8th in New York (EDT since 07:00Z on the 8th); Honolulu
    # is UTC-10 all year.
    at = np.array(
        [
            epoch_ms(datetime(2026, 3, 8, 4, 30, tzinfo=UTC)),
            epoch_ms(datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
            epoch_ms(datetime(2026, 3, 8, 4, 30, tzinfo=UTC)),
            epoch_ms(datetime(2026, 3, 9, 3, 30, tzinfo=UTC)),
            epoch_ms(datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
            epoch_ms(datetime(2026, 3, 8, 9, 59, tzinfo=UTC)),  # 23:59 on the 7th in Honolulu
            epoch_ms(datetime(2026, 3, 8, 10, 0, tzinfo=UTC)),  # 00:00 on the 8th in Honolulu
        ]
    )
    zone = np.array([0, 0, 1, 0, 0, 1, 1])
    days = [grid.days()[i].day for i in local_day_index(at, zone, ZONES, grid)]
    assert days == [7, 8, 7, 8, 9, 7, 8]
    assert [grid.days()[i].day for i in utc_day_index(at, grid)] == [8, 8, 8, 9, 9, 8, 8]
    with pytest.raises(ValueError, match="outside"):
        utc_day_index(np.array([epoch_ms(datetime(2026, 3, 1, tzinfo=UTC))]), grid)


def test_a_sale_is_voided_only_by_an_event_with_all_sixteen_bytes_of_its_id() -> None:
    sales = ids(1, 2, 3, (5 << 64) | 9)
    voids = ids(2, (5 << 64) | 8)  # same first 8 bytes as the 4th sale, different last 8
    assert voided_mask(sales, voids).tolist() == [False, True, False, False]
    assert voided_mask(sales, ids()).tolist() == [False] * 4


def _catalog() -> Catalog:
    return Catalog.build(
        np.array([1, 2]), np.array([0, 1]), ZONES, np.array([1, 2]), np.array([1.0, 1.0])
    )


def test_sales_are_summed_per_store_and_business_day_without_voided_scans() -> None:
    catalog = _catalog()
    grid = DayGrid(date(2026, 3, 6), 4)
    totals = StoreDayTotals.zeros(catalog.store_ids, grid)
    history = PriceHistory.build(np.array([1, 2]), np.array([1, 2]), np.array([199, 1000]), [], 0)
    late_evening = epoch_ms(datetime(2026, 3, 8, 4, 30, tzinfo=UTC))  # the 7th in both zones
    morning = epoch_ms(datetime(2026, 3, 8, 15, 0, tzinfo=UTC))  # the 8th in both zones
    events = Scans(
        ids(1, 2, 3, 4, 2),
        np.array([1, 1, 2, 1, 1], np.int32),
        np.ones(5, np.int16),
        np.array([1, 2, 2, 1, 2], np.int32),
        np.array([3, 1, 2, 1, 0], np.int8),  # the last event voids scan 2
        np.array([late_evening, late_evening, late_evening, morning, late_evening + 90_000]),
    )
    sold, voided = count_sales(totals, events, ids(2), catalog, history, "local")
    assert (sold, voided) == (3, 1)
    assert totals.rows() == {
        (1, "2026-03-07"): (1, 3, 597),
        (2, "2026-03-07"): (1, 2, 2000),
        (1, "2026-03-08"): (1, 1, 199),
    }
    utc = StoreDayTotals.zeros(catalog.store_ids, grid)
    count_sales(utc, events, ids(2), catalog, history, "utc")
    assert set(utc.rows()) == {(1, "2026-03-08"), (2, "2026-03-08")}


def test_differences_list_every_store_day_that_differs_including_missing_rows() -> None:
    expected = {(1, "2026-03-07"): (2, 3, 500), (2, "2026-03-07"): (1, 1, 100)}
    actual = {
        (1, "2026-03-07"): (2, 3, 501),
        (3, "2026-03-07"): (1, 1, 1),
        (1, "2026-03-01"): (9, 9, 9),
    }
    diffs = compare.differences("marts", expected, actual, {"2026-03-07"})
    assert [(d.store_id, d.expected, d.actual) for d in diffs] == [
        (1, (2, 3, 500), (2, 3, 501)),
        (2, (1, 1, 100), (0, 0, 0)),
        (3, (0, 0, 0), (1, 1, 1)),
    ]
    assert compare.differences("marts", expected, dict(expected), {"2026-03-07"}) == []
    lines = compare.table(diffs)
    assert "0.01" in lines[2] and len(lines) == 5


def test_warehouse_sums_must_be_whole_cents() -> None:
    from decimal import Decimal

    assert compare.cents(Decimal("12.30")) == 1230 and compare.cents(None) == 0
    with pytest.raises(ValueError):
        compare.cents(Decimal("0.005"))
