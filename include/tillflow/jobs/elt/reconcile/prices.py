"""The item price history the oracle prices scans with: seeded prices, then each applied churn slot.

A churn slot multiplies the price of every item of one category by a factor, in the OLTP database:
``greatest(round(unit_price * factor, 2), 0.01)`` (numeric rounding, half away from zero). The
warehouse makes each change valid from its CDC commit time. The OLTP database does not keep commit
times unless ``track_commit_timestamp`` is on; otherwise the closest instant it records is
``generator_runs.applied_at``, the start of the slot's transaction, tens of milliseconds before its
commit. Either is taken at millisecond precision, as Debezium's ``ts_ms``; see
:func:`read_price_changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class PriceChange:
    """One applied churn slot's price change."""

    valid_from_ms: int  # epoch milliseconds, UTC
    category_id: int
    factor: str  # as a decimal text, e.g. "0.9"
    slot: datetime | None = None


def apply_factor(cents: np.ndarray, factor: str) -> np.ndarray:
    """``greatest(round(price x factor, 2), 0.01)`` on integer cents, exactly (half away from 0)."""
    import numpy as np

    ratio = Fraction(Decimal(factor))
    p, q = ratio.numerator, ratio.denominator
    if p <= 0:
        raise ValueError(f"a price factor must be positive: {factor}")
    # Prices are positive, so half away from zero is half up: floor(x + 1/2) = (2x·q + q) // 2q.
    rounded = (2 * cents.astype(np.int64) * p + q) // (2 * q)
    return np.asarray(np.maximum(rounded, 1), dtype=np.int64)


@dataclass(frozen=True)
class PriceHistory:
    """Prices in cents per item id, as versions: ``prices[j]`` holds from ``change_ms[j-1]``.

    Only changes after ``since_ms`` are kept as versions (the earlier ones are folded into
    ``prices[0]``), so a long churn history costs one array, not one per slot; lookups must be
    at or after ``since_ms``.
    """

    since_ms: int
    change_ms: np.ndarray  # (k,) int64, sorted
    prices: np.ndarray  # (k + 1, max item id + 1) int64 cents; 0 = no price known

    @classmethod
    def build(
        cls,
        item_ids: np.ndarray,
        category_ids: np.ndarray,
        seeded_cents: np.ndarray,
        changes: list[PriceChange],
        since_ms: int,
    ) -> PriceHistory:
        import numpy as np

        size = int(item_ids.max()) + 1 if item_ids.size else 1
        current = np.zeros(size, dtype=np.int64)
        current[item_ids] = seeded_cents
        category = np.zeros(size, dtype=np.int64)
        category[item_ids] = category_ids
        versions: list[np.ndarray] = []
        times: list[int] = []
        # The warehouse orders a key's changes by commit time; so does the history.
        for change in sorted(changes, key=lambda c: c.valid_from_ms):
            hit = category == change.category_id
            if change.valid_from_ms > since_ms:
                versions.append(current.copy())
                times.append(change.valid_from_ms)
            current[hit] = apply_factor(current[hit], change.factor)
        versions.append(current)
        return cls(since_ms, np.asarray(times, dtype=np.int64), np.stack(versions))

    def current_cents(self) -> np.ndarray:
        """Each item's price after every change (index = item id)."""
        import numpy as np

        return np.asarray(self.prices[-1])

    def cents_at(self, item_id: np.ndarray, at_ms: np.ndarray) -> np.ndarray:
        """The price valid at each ``at_ms`` (a change holds from its own instant on)."""
        import numpy as np

        if at_ms.size and int(at_ms.min()) < self.since_ms:
            raise ValueError("price lookup before the history's start")
        version = np.searchsorted(self.change_ms, at_ms, side="right")
        known = item_id < self.prices.shape[1]
        out = np.zeros(item_id.size, dtype=np.int64)
        out[known] = self.prices[version[known], item_id[known]]
        return out


def seeded_history(seed: int, changes: list[PriceChange], since_ms: int) -> PriceHistory:
    """The history of the seeded items (the only ones the scan generator scans)."""
    from tillflow.domain.generation.reference import item_numbers

    items = item_numbers(seed)
    return PriceHistory.build(
        items.item_id, items.category_id, items.unit_price_cents, changes, since_ms
    )


def changes_from_runs(rows: list[tuple[datetime, datetime, dict[str, Any]]]) -> list[PriceChange]:
    """``generator_runs`` rows of kind item_churn (slot, instant, details) -> price changes.

    The valid-from instant is truncated to the millisecond (CDC's ``ts_ms``)."""
    out = []
    for slot, instant, details in rows:
        ms = int(instant.timestamp() * 1_000_000) // 1000
        factor = repr(float(details["factor"]))
        out.append(PriceChange(ms, int(details["category_id"]), factor, slot))
    return out


#: Where a slot's valid-from instant comes from: ``auto`` is ``commit`` when the server keeps
#: commit times, else ``applied``.
VALID_FROM_CHOICES = ("auto", "commit", "applied")


def read_price_changes(
    oltp_dsn: str, valid_from: str = "auto"
) -> tuple[list[PriceChange], int | None, str]:
    """The applied churn slots of the OLTP database, the seed its reference data was loaded with
    (None when unknown), and where the valid-from instants come from. Reads ``generator_runs``.

    With ``track_commit_timestamp`` on, a slot's instant is the commit time of its transaction
    (``pg_xact_commit_timestamp`` of its ``generator_runs`` row, written by that transaction):
    exactly CDC's. Off (the default), it is ``applied_at``, which precedes the commit by the
    transaction's duration (tens of ms): scans of the re-priced category in that gap are priced
    differently from the warehouse. ``valid_from="applied"`` takes ``applied_at`` even when commit
    times are kept: for a database whose ``applied_at`` was rewritten to stand for the commit
    (a test replaying a slot at a past instant)."""
    import psycopg

    if valid_from not in VALID_FROM_CHOICES:
        raise ValueError(f"valid_from must be one of {', '.join(VALID_FROM_CHOICES)}")
    with psycopg.connect(oltp_dsn) as conn:
        exact = conn.execute("select current_setting('track_commit_timestamp')").fetchone()
        kept = bool(exact and exact[0] == "on")
        committed = kept if valid_from == "auto" else valid_from == "commit"
        if committed and not kept:
            raise RuntimeError(
                "valid_from=commit needs track_commit_timestamp on in the OLTP server"
            )
        instant = (
            "coalesce(pg_xact_commit_timestamp(xmin), applied_at)" if committed else "applied_at"
        )
        runs = conn.execute(
            f"select slot, {instant}, details from generator_runs"
            " where kind = 'item_churn' order by 2"
        ).fetchall()
        ref = conn.execute(
            "select details from generator_runs where kind = 'reference' order by slot limit 1"
        ).fetchone()
    seed = ref[0].get("seed") if ref and isinstance(ref[0], dict) else None
    source = (
        "commit time"
        if committed
        else f"applied_at (track_commit_timestamp {'on' if kept else 'off'})"
    )
    return changes_from_runs([(r[0], r[1], r[2]) for r in runs]), seed, source


def read_current_cents(oltp_dsn: str, item_ids: np.ndarray) -> dict[int, int]:
    """The OLTP item master's current prices (cents) of these items: the history's cross-check."""
    import psycopg

    with psycopg.connect(oltp_dsn) as conn:
        rows = conn.execute(
            "select item_id, (unit_price * 100)::bigint from item_master where item_id = any(%s)",
            (item_ids.tolist(),),
        ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}
