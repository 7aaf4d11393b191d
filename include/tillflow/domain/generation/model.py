"""The POS scan model (acme): columnar, vectorised, deterministic per (seed, UTC hour).

Per store and UTC hour, each of the store's checkstands scans
``round(800 x multiplier(store-local hour) x U(0.8, 1.2))`` items, at uniformly random
milliseconds of the hour. The store-local hour comes from the store's IANA zone via zoneinfo, so
daylight-saving changes move a store's opening hours in UTC. Items are drawn by frequency weight;
the quantity is 1 (90 %) or else 2-4; one scan in 200 is voided 60-180 s later by a second event
with the same scan_id, store, checkstand and item, quantity 0 and the void's own time.

The scans of one UTC hour come from a generator seeded by (base seed, date, hour), so any hour, day
or range can be regenerated identically, in history mode or live. Voids of the last minutes of an
hour fall into the next one: ``scans_between`` hands out the events whose time lies in the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from tillflow.domain.generation import DEFAULT_SEED
from tillflow.domain.generation.reference import CHECKSTANDS, item_numbers, rng, store_numbers

if TYPE_CHECKING:
    import numpy as np

SCANS_PER_CHECKSTAND_HOUR: Final = 800
#: Store-local hour -> activity multiplier (closed = 0).
HOURLY_MULTIPLIER: Final[tuple[float, ...]] = (
    (0.0,) * 10 + (0.12,) + (1.0,) * 2 + (0.25,) * 3 + (0.5,) * 3 + (0.17,) * 3 + (0.0,) * 2
)
JITTER: Final = (0.8, 1.2)
VOID_ONE_IN: Final = 200
VOID_DELAY_MS: Final = (60_000, 180_000)
QUANTITY_ONE_SHARE: Final = 0.9
HOUR_MS: Final = 3_600_000
#: A scan id is 16 random bytes, kept as one 16-byte item so moving rows is one copy each.
SCAN_ID_DTYPE: Final = "V16"
MAX_SPILL_MS: Final = VOID_DELAY_MS[1]


@dataclass(frozen=True)
class Catalog:
    """What the scan model needs about the chain: stores with zones, items with weights."""

    store_ids: np.ndarray  # int32
    store_zone: np.ndarray  # int8 index into ``zones``
    zones: tuple[str, ...]
    item_ids: np.ndarray  # int32
    item_alias_prob: np.ndarray  # float64: Walker/Vose alias table over ``item_ids``
    item_alias: np.ndarray  # int32
    checkstands: int = CHECKSTANDS

    @classmethod
    def from_seed(cls, seed: int = DEFAULT_SEED, max_stores: int | None = None) -> Catalog:
        """The seeded chain: all stores (or the first ``max_stores``), items not on clearance."""
        from tillflow.domain.generation.places import ZONES

        stores = store_numbers(seed)
        items = item_numbers(seed)
        keep = ~items.clearance
        n = stores.store_id.size if max_stores is None else max(1, max_stores)
        return cls.build(
            stores.store_id[:n],
            stores.zone_code[:n],
            ZONES,
            items.item_id[keep],
            items.frequency[keep],
        )

    @classmethod
    def build(
        cls,
        store_ids: np.ndarray,
        store_zone: np.ndarray,
        zones: tuple[str, ...],
        item_ids: np.ndarray,
        item_weights: np.ndarray,
        checkstands: int = CHECKSTANDS,
    ) -> Catalog:
        import numpy as np

        if store_ids.size == 0 or item_ids.size == 0:
            raise ValueError("a catalog needs at least one store and one item")
        prob, alias = alias_table(np.asarray(item_weights, dtype=np.float64))
        return cls(
            np.asarray(store_ids, dtype=np.int32),
            np.asarray(store_zone, dtype=np.int8),
            zones,
            np.asarray(item_ids, dtype=np.int32),
            prob,
            alias,
            checkstands,
        )

    def sample_items(self, r: np.random.Generator, n: int) -> np.ndarray:
        """``n`` item ids drawn with replacement, proportionally to their weights (O(1) each)."""
        import numpy as np

        k = r.integers(0, self.item_ids.size, n, dtype=np.int32)
        keep = r.random(n) < self.item_alias_prob[k]
        return np.asarray(self.item_ids[np.where(keep, k, self.item_alias[k])])

    def local_hours(self, hour_start: datetime) -> np.ndarray:
        """Each store's local hour (0-23) during the UTC hour starting at ``hour_start``."""
        import numpy as np

        per_zone = np.array([hour_start.astimezone(ZoneInfo(z)).hour for z in self.zones])
        return np.asarray(per_zone[self.store_zone])


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias method: ``prob`` and ``alias`` such that picking a column uniformly and then
    keeping it with ``prob`` (else taking its alias) draws index i with chance w_i / sum(w)."""
    import numpy as np

    if weights.size == 0 or not np.all(weights > 0):
        raise ValueError("weights must be positive")
    n = weights.size
    scaled = weights * (n / weights.sum())
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int32)
    small = [int(i) for i in np.flatnonzero(scaled < 1.0)]
    large = [int(i) for i in np.flatnonzero(scaled >= 1.0)]
    s = scaled.tolist()
    while small and large:
        lo, hi = small.pop(), large.pop()
        prob[lo] = s[lo]
        alias[lo] = hi
        s[hi] = s[hi] + s[lo] - 1.0
        (small if s[hi] < 1.0 else large).append(hi)
    return prob, alias


@dataclass(frozen=True)
class Scans:
    """Scan events as columns, sorted by ``scanned_at_ms`` (epoch milliseconds, UTC)."""

    scan_id: np.ndarray  # (n,) V16: 128 random bits, shown as 32 hex digits
    store_id: np.ndarray  # int32
    checkstand_id: np.ndarray  # int16
    item_id: np.ndarray  # int32
    quantity: np.ndarray  # int8; 0 = void
    scanned_at_ms: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.store_id.size)

    def take(self, index: np.ndarray | slice) -> Scans:
        return Scans(
            self.scan_id[index],
            self.store_id[index],
            self.checkstand_id[index],
            self.item_id[index],
            self.quantity[index],
            self.scanned_at_ms[index],
        )

    @staticmethod
    def empty() -> Scans:
        import numpy as np

        return Scans(
            np.empty(0, SCAN_ID_DTYPE),
            np.empty(0, np.int32),
            np.empty(0, np.int16),
            np.empty(0, np.int32),
            np.empty(0, np.int8),
            np.empty(0, np.int64),
        )

    @staticmethod
    def concat(parts: list[Scans]) -> Scans:
        import numpy as np

        if not parts:
            return Scans.empty()
        return Scans(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def merge(self, other: Scans) -> Scans:
        """Both sorted by time -> one sorted sequence (ties: ``self`` first)."""
        import numpy as np

        if len(other) == 0:
            return self
        if len(self) == 0:
            return other
        n = len(self) + len(other)
        pos_other = np.searchsorted(self.scanned_at_ms, other.scanned_at_ms, side="right")
        pos_other = pos_other + np.arange(len(other))
        is_self = np.ones(n, dtype=bool)
        is_self[pos_other] = False
        pos_self = np.flatnonzero(is_self)  # integer scatter beats boolean masks here
        cols = []
        for f in _FIELDS:
            a, b = getattr(self, f), getattr(other, f)
            out = np.empty(n, dtype=a.dtype)
            out[pos_self] = a
            out[pos_other] = b
            cols.append(out)
        return Scans(*cols)

    def window(self, start_ms: int, end_ms: int) -> Scans:
        import numpy as np

        lo, hi = np.searchsorted(self.scanned_at_ms, [start_ms, end_ms], side="left")
        return self if (lo == 0 and hi == len(self)) else self.take(slice(int(lo), int(hi)))


def scan_id_hex(scan_id: np.ndarray) -> list[str]:
    """The 32-hex-digit form of scan ids (as in the events)."""
    return [bytes(v).hex() for v in scan_id.tolist()]


_FIELDS: Final = ("scan_id", "store_id", "checkstand_id", "item_id", "quantity", "scanned_at_ms")


def epoch_ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_rng(seed: int, hour_start: datetime) -> np.random.Generator:
    """The generator of one UTC hour: derived from (base seed, date, hour)."""
    h = hour_start.astimezone(UTC)
    return rng(seed, "scans", h.year * 10000 + h.month * 100 + h.day, h.hour)


def checkstand_counts(catalog: Catalog, hour_start: datetime, r: np.random.Generator) -> np.ndarray:
    """Scans per (store, checkstand) in this UTC hour: shape (stores, checkstands)."""
    import numpy as np

    mult = np.asarray(HOURLY_MULTIPLIER)[catalog.local_hours(hour_start)]
    factor = r.uniform(*JITTER, size=(catalog.store_ids.size, catalog.checkstands))
    return np.rint(SCANS_PER_CHECKSTAND_HOUR * mult[:, None] * factor).astype(np.int64)


def scans_for_hour(catalog: Catalog, seed: int, hour_start: datetime) -> Scans:
    """Every scan that starts in this UTC hour, with its void if it has one, sorted by time.

    Voids may lie up to ``MAX_SPILL_MS`` past the end of the hour. The times are drawn uniformly
    and sorted, then the (store, checkstand) slots are dealt to them in random order, so each
    scan's time is uniform in the hour without sorting the whole table by time.
    """
    import numpy as np

    hour_start = floor_hour(hour_start)
    r = hour_rng(seed, hour_start)
    counts = checkstand_counts(catalog, hour_start, r).ravel()
    n = int(counts.sum())
    if n == 0:
        return Scans.empty()
    cs = catalog.checkstands
    slot = np.repeat(np.arange(counts.size, dtype=np.int32), counts)
    r.shuffle(slot)
    store = catalog.store_ids[slot // cs]
    checkstand = (slot % cs + 1).astype(np.int16)
    offset = r.integers(0, HOUR_MS, n, dtype=np.int32)
    offset.sort()
    at = epoch_ms(hour_start) + offset.astype(np.int64)
    item = catalog.sample_items(r, n)
    u = r.random(n)
    # One uniform per scan: below 0.9 -> 1, else 2, 3 or 4 with equal chances.
    high = np.minimum((u - QUANTITY_ONE_SHARE) * (3 / (1 - QUANTITY_ONE_SHARE)), 2.0)
    quantity = np.where(u < QUANTITY_ONE_SHARE, 1, 2 + high.astype(np.int8)).astype(np.int8)
    scan_id = r.bit_generator.random_raw(2 * n).view(SCAN_ID_DTYPE)
    voided = np.flatnonzero(r.random(n) < 1.0 / VOID_ONE_IN)
    delay = r.integers(VOID_DELAY_MS[0], VOID_DELAY_MS[1] + 1, voided.size, dtype=np.int64)
    scans = Scans(scan_id, store, checkstand, item, quantity, at)
    voids = scans.take(voided)
    void_at = voids.scanned_at_ms + delay
    order = np.argsort(void_at, kind="stable")
    voids = Scans(
        voids.scan_id[order],
        voids.store_id[order],
        voids.checkstand_id[order],
        voids.item_id[order],
        np.zeros(voided.size, np.int8),
        void_at[order],
    )
    return scans.merge(voids)


@dataclass(frozen=True)
class HourBatch:
    """The events of one UTC hour that fall in the requested window, sorted by time."""

    hour_start: datetime
    scans: Scans


def scans_between(
    catalog: Catalog, seed: int, start: datetime, end: datetime
) -> Iterator[HourBatch]:
    """The events whose time lies in ``[start, end)``, one sorted batch per UTC hour.

    The result for a window is the same whichever way the window is cut: an hour's events are the
    scans generated for it plus the voids spilling over from the hour before.
    """
    if end <= start:
        return
    start_ms, end_ms = epoch_ms(start), epoch_ms(end)
    hour = floor_hour(start)
    spill = Scans.empty()
    if start_ms < epoch_ms(hour) + MAX_SPILL_MS + 1:
        prev = scans_for_hour(catalog, seed, hour - timedelta(hours=1))
        spill = prev.window(epoch_ms(hour), epoch_ms(hour) + HOUR_MS)
    while epoch_ms(hour) < end_ms:
        h_ms = epoch_ms(hour)
        current = scans_for_hour(catalog, seed, hour)
        in_hour = current.window(h_ms, h_ms + HOUR_MS)
        events = in_hour.merge(spill).window(max(start_ms, h_ms), min(end_ms, h_ms + HOUR_MS))
        spill = current.window(h_ms + HOUR_MS, h_ms + HOUR_MS + MAX_SPILL_MS + 1)
        yield HourBatch(hour, events)
        hour += timedelta(hours=1)


def expected_store_hour(local_hour: int, checkstands: int = CHECKSTANDS) -> tuple[float, float]:
    """The model's bounds for one store's non-void scans in one local hour (rounding included)."""
    base = SCANS_PER_CHECKSTAND_HOUR * HOURLY_MULTIPLIER[local_hour] * checkstands
    return base * JITTER[0] - checkstands * 0.5, base * JITTER[1] + checkstands * 0.5
