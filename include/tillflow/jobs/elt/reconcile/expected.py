"""What the marts must hold for a generated window: sales per store and day, hour by hour.

The events are the generator's own (``model.scans_between`` and ``scans.bad_events``, the calls
``tillflow generate history`` makes), never a second model. Of the bad events, those that
ingestion accepts (``validate_record``, its per-record rules) land as scans; the others become
dead letters and count nowhere. A scan counts when it has a quantity above 0 and no event of the
same scan_id has quantity 0 (a void, 60-180 s later: possibly in the next hour, so each hour is
summed once the next one is generated). Its sales are the price valid at its time x quantity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from tillflow.domain.events.records import TimeWindow
from tillflow.domain.events.scans import validate_record
from tillflow.domain.generation import model
from tillflow.domain.generation.model import Catalog, Scans
from tillflow.jobs.elt.reconcile.days import DayGrid, DayRule, local_day_index, utc_day_index
from tillflow.jobs.elt.reconcile.prices import PriceHistory
from tillflow.jobs.generators.scans import LATE_HOURS, bad_events

if TYPE_CHECKING:
    import numpy as np

#: How far before a window's start its events can lie (late events), with a margin.
LOOKBACK: Final = timedelta(hours=LATE_HOURS[1] + 1)


@dataclass
class StoreDayTotals:
    """Sums per (store, day) on a dense grid: stores x days."""

    store_ids: np.ndarray  # (S,) int32
    grid: DayGrid
    scan_count: np.ndarray  # (S, D) int64
    quantity: np.ndarray
    sales_cents: np.ndarray

    @classmethod
    def zeros(cls, store_ids: np.ndarray, grid: DayGrid) -> StoreDayTotals:
        import numpy as np

        shape = (store_ids.size, grid.count)
        return cls(
            np.asarray(store_ids),
            grid,
            np.zeros(shape, np.int64),
            np.zeros(shape, np.int64),
            np.zeros(shape, np.int64),
        )

    def add(
        self,
        store_index: np.ndarray,
        day_index: np.ndarray,
        quantity: np.ndarray,
        cents: np.ndarray,
    ) -> None:
        """Add sales lines (one per counted scan). bincount sums in float64, exact below 2^53."""
        import numpy as np

        cells = self.scan_count.size
        key = store_index.astype(np.int64) * self.grid.count + day_index
        for target, weights in (
            (self.scan_count, None),
            (self.quantity, quantity.astype(np.float64)),
            (self.sales_cents, (quantity.astype(np.int64) * cents).astype(np.float64)),
        ):
            sums = np.bincount(key, weights=weights, minlength=cells)
            target += np.rint(sums).astype(np.int64).reshape(target.shape)

    def rows(self) -> dict[tuple[int, str], tuple[int, int, int]]:
        """(store_id, ISO day) -> (scan count, quantity, sales cents), for cells with a sale."""
        import numpy as np

        days = [d.isoformat() for d in self.grid.days()]
        s_idx, d_idx = np.nonzero(self.scan_count)
        return {
            (int(self.store_ids[s]), days[d]): (
                int(self.scan_count[s, d]),
                int(self.quantity[s, d]),
                int(self.sales_cents[s, d]),
            )
            for s, d in zip(s_idx.tolist(), d_idx.tolist(), strict=True)
        }


def id_halves(scan_id: np.ndarray) -> np.ndarray:
    """(n, 2) uint64 view of 16-byte scan ids."""
    import numpy as np

    return np.ascontiguousarray(scan_id).view(np.uint64).reshape(-1, 2)


def voided_mask(sale_ids: np.ndarray, void_ids: np.ndarray) -> np.ndarray:
    """Which sales have a void (an event with the same 16-byte id), exactly.

    Matching is on the first 8 bytes (integers), confirmed on all 16 for the few hits."""
    import numpy as np

    if void_ids.size == 0 or sale_ids.size == 0:
        return np.zeros(sale_ids.size, dtype=bool)
    # Few voids, many sales: a binary search of each sale in the sorted voids, no large sort.
    heads = np.sort(id_halves(void_ids)[:, 0])
    probe = id_halves(sale_ids)[:, 0]
    at = np.minimum(np.searchsorted(heads, probe), heads.size - 1)
    candidate = heads[at] == probe
    if candidate.any():
        voids = {bytes(v) for v in void_ids.tolist()}
        hits = np.flatnonzero(candidate)
        confirmed = np.array([bytes(v) in voids for v in sale_ids[hits].tolist()], dtype=bool)
        candidate[hits[~confirmed]] = False
    return candidate


def scans_from_rows(rows: list[tuple[str, int, int, int, int, datetime]]) -> Scans:
    """Validated scan rows (``validate_record``'s) back to columns."""
    import numpy as np

    if not rows:
        return Scans.empty()
    ids = np.frombuffer(b"".join(bytes.fromhex(r[0]) for r in rows), dtype=model.SCAN_ID_DTYPE)
    return Scans(
        ids.copy(),
        np.array([r[1] for r in rows], np.int32),
        np.array([r[2] for r in rows], np.int16),
        np.array([r[3] for r in rows], np.int32),
        np.array([r[4] for r in rows], np.int8),
        np.array([model.epoch_ms(r[5]) for r in rows], np.int64),
    )


@dataclass
class OracleStats:
    hours: int = 0
    events: int = 0  # good events of the window
    landed_bad: int = 0  # bad events ingestion accepts (the late ones)
    dead_letters: int = 0
    sales: int = 0
    voided: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def landed_bad(
    seed: int, batch: model.HourBatch, bad_share: float, window: TimeWindow
) -> tuple[Scans, int]:
    """The hour's bad events that ingestion lands as scans, and how many become dead letters."""
    rows, dead = [], 0
    for event in bad_events(seed, batch, bad_share):
        row, _ = validate_record(event.value, window)
        if row is None:
            dead += 1
            continue
        if event.kind != "late":
            # A malformed copy keeps its scan_id: if one ever landed, the warehouse would keep
            # the first of two events of one scan, which this oracle does not model.
            raise ValueError(f"a {event.kind!r} bad event would land as a scan; not modelled")
        rows.append(row)
    return scans_from_rows(rows), dead


@dataclass(frozen=True)
class GeneratedWindow:
    """What ``tillflow generate history`` was run with: together they determine every event."""

    catalog: Catalog
    seed: int
    start: datetime
    end: datetime
    bad_share: float = 0.0


def window_events(
    generated: GeneratedWindow, accepted: TimeWindow, stats: OracleStats
) -> Iterator[Scans]:
    """Per UTC hour of the window: the events that land in raw.pos_scans (``accepted``: the
    event times ingestion takes)."""
    g = generated
    for batch in model.scans_between(g.catalog, g.seed, g.start, g.end):
        late, dead = landed_bad(g.seed, batch, g.bad_share, accepted)
        stats.events += len(batch.scans)
        stats.landed_bad += len(late)
        stats.dead_letters += dead
        yield Scans.concat([batch.scans, late]) if len(late) else batch.scans


def count_sales(
    totals: StoreDayTotals,
    events: Scans,
    void_ids: np.ndarray,
    catalog: Catalog,
    prices: PriceHistory,
    day_rule: DayRule,
) -> tuple[int, int]:
    """Add one batch of events' sales to ``totals``; return (sales, voided) counted."""
    import numpy as np

    sale = events.quantity > 0
    sales = events.take(np.flatnonzero(sale))
    keep = ~voided_mask(sales.scan_id, void_ids)
    sales = sales.take(np.flatnonzero(keep))
    lookup = np.full(int(catalog.store_ids.max()) + 1, -1, dtype=np.int64)
    lookup[catalog.store_ids] = np.arange(catalog.store_ids.size)
    store_index = lookup[sales.store_id]
    if sales.store_id.size and int(store_index.min()) < 0:
        raise ValueError("an event names a store outside the catalog")
    if day_rule == "local":
        day = local_day_index(
            sales.scanned_at_ms, catalog.store_zone[store_index], catalog.zones, totals.grid
        )
    else:
        day = utc_day_index(sales.scanned_at_ms, totals.grid)
    cents = prices.cents_at(sales.item_id.astype(np.int64), sales.scanned_at_ms)
    totals.add(store_index, day, sales.quantity, cents)
    return len(sales), int((~keep).sum())


Progress = Callable[[datetime, OracleStats], None]


def expected_totals(
    generated: GeneratedWindow,
    prices: PriceHistory,
    day_rule: DayRule,
    accepted: TimeWindow | None = None,
    progress: Progress | None = None,
) -> tuple[StoreDayTotals, OracleStats]:
    """The per-(store, day) sales of every event generated for the window."""
    import numpy as np

    catalog = generated.catalog
    stats = OracleStats()
    grid = DayGrid.covering(generated.start, generated.end, LOOKBACK)
    totals = StoreDayTotals.zeros(catalog.store_ids, grid)
    hour = generated.start
    previous: Scans | None = None

    def settle(events: Scans, void_ids: np.ndarray) -> None:
        sold, voided = count_sales(totals, events, void_ids, catalog, prices, day_rule)
        stats.sales += sold
        stats.voided += voided

    for events in window_events(generated, accepted or TimeWindow.current(), stats):
        voids = events.scan_id[events.quantity == 0]
        if previous is not None:
            settle(previous, np.concatenate([previous.scan_id[previous.quantity == 0], voids]))
            stats.hours += 1
            stats.seconds = time.perf_counter() - stats.started
            if progress:
                progress(hour, stats)
            hour += timedelta(hours=1)
        previous = events
    if previous is not None:
        settle(previous, previous.scan_id[previous.quantity == 0])
        stats.hours += 1
    stats.seconds = time.perf_counter() - stats.started
    if progress:
        progress(hour, stats)
    return totals, stats
