"""One reconcile run: price history from the OLTP database, expected sums, the warehouse's, diffs.

Scope: the POS channel. Orders are created through the API by clients (the order generator is
random per run, not a function of a seed and a window), so there is nothing to regenerate them
from; the daily sales mart and its serving view hold POS scans only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from tillflow.domain.generation.model import Catalog, epoch_ms
from tillflow.jobs.elt.reconcile import compare
from tillflow.jobs.elt.reconcile.expected import (
    LOOKBACK,
    GeneratedWindow,
    OracleStats,
    Progress,
    StoreDayTotals,
    expected_totals,
)
from tillflow.jobs.elt.reconcile.prices import (
    PriceHistory,
    read_current_cents,
    read_price_changes,
    seeded_history,
)

if TYPE_CHECKING:
    import numpy as np


@dataclass
class ReconcileReport:
    stats: OracleStats
    days: list[str]
    store_days: int  # (store, day) cells with expected sales
    price_changes: int
    expected: dict[compare.Key, compare.Sums] = field(default_factory=dict)
    differences: list[compare.Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def check_price_history(history: PriceHistory, oltp: dict[int, int], item_ids: np.ndarray) -> None:
    """The history must end at the OLTP's current prices (else a slot or the seed is wrong)."""
    current = history.current_cents()
    wrong = [i for i in item_ids.tolist() if i in oltp and oltp[i] != int(current[i])]
    if wrong:
        raise RuntimeError(
            f"the price history does not reproduce the OLTP's current prices for {len(wrong)} "
            f"items (e.g. item {wrong[0]}: {int(current[wrong[0]])} != {oltp[wrong[0]]} cents): "
            "wrong --seed, or prices changed outside the churn"
        )


def expected_days(totals: StoreDayTotals) -> list[str]:
    """The days from the first to the last day with an expected sale."""
    import numpy as np

    with_sales = np.flatnonzero(totals.scan_count.sum(axis=0))
    if with_sales.size == 0:
        return []
    days = totals.grid.days()
    return [d.isoformat() for d in days[int(with_sales[0]) : int(with_sales[-1]) + 1]]


def reconcile(
    oltp_dsn: str,
    warehouse_dsn: str,
    seed: int,
    start: datetime,
    end: datetime,
    stores: int | None = None,
    bad_share: float = 0.0,
    progress: Progress | None = None,
    say: Callable[[str], None] = print,
    price_valid_from: str = "auto",
    compare_now: bool = True,
) -> ReconcileReport:
    """Compare the daily sales mart and serving view with the oracle's sums for the window.
    ``price_valid_from`` says where a price change's valid-from instant comes from (see
    :func:`read_price_changes`)."""
    day_rule = compare.mart_day_rule()
    changes, loaded_seed, valid_from = read_price_changes(oltp_dsn, price_valid_from)
    if loaded_seed is not None and loaded_seed != seed:
        raise RuntimeError(
            f"the OLTP reference data was loaded with seed {loaded_seed}, not {seed}"
        )
    catalog = Catalog.from_seed(seed, stores)
    history = seeded_history(seed, changes, epoch_ms(start - LOOKBACK))
    check_price_history(history, read_current_cents(oltp_dsn, catalog.item_ids), catalog.item_ids)
    say(
        f"reconcile: {len(changes)} applied price changes (valid from their {valid_from}); "
        f"day rule {day_rule} ({compare.MART_DATE_COLUMN}); "
        f"regenerating {start.isoformat()} .. {end.isoformat()}, "
        f"{catalog.store_ids.size} stores, seed {seed}, bad share {bad_share:g}"
    )
    generated = GeneratedWindow(catalog, seed, start, end, bad_share)
    totals, stats = expected_totals(generated, history, day_rule, progress=progress)
    expected = totals.rows()
    days = expected_days(totals)
    report = ReconcileReport(stats, days, len(expected), len(changes), expected)
    if compare_now:
        report.differences = compare_warehouse(warehouse_dsn, expected, days)
    return report


def compare_warehouse(
    warehouse_dsn: str, expected: dict[compare.Key, compare.Sums], days: list[str]
) -> list[compare.Difference]:
    """The differences of the mart and the serving view from ``expected`` on ``days``, now."""
    if not days:
        return []
    out: list[compare.Difference] = []
    for label, relation in compare.RELATIONS:
        actual = compare.read_sums(warehouse_dsn, relation, days[0], days[-1])
        out += compare.differences(label, expected, actual, set(days))
    return out
