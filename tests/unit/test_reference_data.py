"""Seeded reference data: deterministic, consistent with the DDL, stores placed in real zones."""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tillflow.domain.generation.places import CITIES, ZONE_STORE_COUNTS
from tillflow.domain.generation.reference import (
    COLUMNS,
    N_ITEMS,
    Reference,
    build_reference,
    item_numbers,
    upc_check_digit,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ref() -> Reference:
    return build_reference(123)


def ddl_columns() -> dict[str, list[str]]:
    """Table -> column names, read from sql/oltp/001_reference.sql."""
    sql = (resources.files("tillflow") / "sql" / "oltp" / "001_reference.sql").read_text()
    tables: dict[str, list[str]] = {}
    for name, body in re.findall(r"create table if not exists (\w+) \((.*?)\n\);", sql, re.S):
        cols = [line.split()[0] for line in body.strip().splitlines() if line.strip()]
        tables[name] = [c for c in cols if not c.startswith("--")]
    return tables


def test_columns_are_exactly_those_of_the_ddl() -> None:
    ddl = ddl_columns()
    assert set(ddl) == set(COLUMNS)
    for table, cols in COLUMNS.items():
        assert list(cols) == ddl[table], table


def test_row_counts(ref: Reference) -> None:
    counts = ref.counts()
    assert counts["item_categories"] == 32
    assert counts["stores"] == 1000
    assert counts["item_master"] == N_ITEMS == 32_000
    assert counts["customers"] == 10_000
    for table, rows in ref.tables.items():
        assert all(len(r) == len(COLUMNS[table]) for r in rows), table


def test_same_seed_same_rows_other_seed_other_rows(ref: Reference) -> None:
    again = build_reference(123)
    other = build_reference(124)
    assert again.tables == ref.tables
    assert other.tables["stores"] != ref.tables["stores"]
    assert other.tables["item_master"] != ref.tables["item_master"]


def test_stores_are_spread_over_zones_like_a_us_chain(ref: Reference) -> None:
    zones = Counter(r[8] for r in ref.tables["stores"])
    assert zones == Counter(ZONE_STORE_COUNTS)
    big_three = zones["America/New_York"] + zones["America/Chicago"] + zones["America/Los_Angeles"]
    assert big_three >= 850
    for z in ("America/Denver", "America/Phoenix", "America/Anchorage", "Pacific/Honolulu"):
        assert 0 < zones[z] <= 50


def test_each_store_lies_in_a_real_city_of_its_zone(ref: Reference) -> None:
    for row in ref.tables["stores"]:
        store: dict[str, Any] = dict(zip(COLUMNS["stores"], row, strict=True))
        ZoneInfo(store["timezone"])  # a real IANA zone
        city = next(
            c
            for c in CITIES[store["timezone"]]
            if (c.name, c.state) == (store["city"], store["state"])
        )
        assert abs(float(store["latitude"]) - city.latitude) < 0.5
        assert abs(float(store["longitude"]) - city.longitude) < 0.5
        assert re.fullmatch(r"\d{5}", store["postal_code"])
        assert store["checkstands"] == 10


def test_items_have_valid_unique_upcs_and_positive_prices(ref: Reference) -> None:
    rows = ref.tables["item_master"]
    upcs = [r[1] for r in rows]
    assert len(set(upcs)) == len(upcs)
    body = np.array([int(u[:11]) for u in upcs])
    assert np.array_equal(upc_check_digit(body), np.array([int(u[11]) for u in upcs]))
    assert all(float(r[4]) > 0 and r[5] > 0 for r in rows)
    assert {r[3] for r in rows} == set(range(1, 33))


def test_upc_check_digit_of_a_known_code() -> None:
    assert upc_check_digit(np.array([3600029145]))[0] == 2  # 036000291452


def test_customer_tiers_have_a_few_percent_diamond(ref: Reference) -> None:
    tiers = Counter(r[3] for r in ref.tables["customers"])
    assert set(tiers) == {"regular", "silver", "gold", "diamond"}
    share = tiers["diamond"] / sum(tiers.values())
    assert 0.01 < share < 0.05
    emails = [r[2] for r in ref.tables["customers"]]
    assert len(set(emails)) == len(emails)


def test_payment_methods_include_bank_transfer_with_acb(ref: Reference) -> None:
    methods = {(r[1], r[2]) for r in ref.tables["payment_methods"]}
    assert ("bank_transfer", "ACB") in methods
    assert {m for m, _ in methods} == {"cash", "credit_card", "e_wallet", "bank_transfer"}
    assert len({b for m, b in methods if m == "bank_transfer"}) >= 3
    assert all(b is None for m, b in methods if m != "bank_transfer")


def test_clearance_items_are_few_and_rarely_bought() -> None:
    nums = item_numbers(123)
    assert 0.01 < nums.clearance.mean() < 0.03
    assert np.median(nums.frequency[nums.clearance]) < np.median(nums.frequency[~nums.clearance])
