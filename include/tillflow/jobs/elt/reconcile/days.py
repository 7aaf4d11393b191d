"""The day a scan counts on, vectorised: its store-local calendar date, or its UTC date.

``(scanned_at at time zone store.timezone)::date``: a scan belongs to local day d when it lies at
or after the first instant of d in the store's zone (local midnight; when midnight does not exist
in a zone, the instant the clock jumps) and before the first instant of d + 1. Those instants are
computed once per zone and day with zoneinfo, so daylight-saving days are 23 or 25 hours long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import numpy as np

DAY_MS = 86_400_000
#: local: the store-local calendar date (the business date); utc: the UTC date.
DayRule = Literal["local", "utc"]


@dataclass(frozen=True)
class DayGrid:
    """The days ``first .. first + count - 1`` the oracle sums on (indices 0 .. count - 1)."""

    first: date
    count: int

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.count)]

    @classmethod
    def covering(cls, start: datetime, end: datetime, before: timedelta) -> DayGrid:
        """Every day an event of ``[start - before, end)`` can count on, in any zone."""
        first = (start - before).astimezone(UTC).date() - timedelta(days=1)
        last = end.astimezone(UTC).date() + timedelta(days=1)
        return cls(first, (last - first).days + 1)


def local_day_starts(zone: str, grid: DayGrid) -> np.ndarray:
    """Epoch ms of the first instant of each grid day, and of the day after, in ``zone``."""
    import numpy as np

    tz = ZoneInfo(zone)
    starts = []
    for i in range(grid.count + 1):
        d = grid.first + timedelta(days=i)
        starts.append(int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000))
    return np.asarray(starts, dtype=np.int64)


def local_day_index(
    at_ms: np.ndarray, store_zone: np.ndarray, zones: tuple[str, ...], grid: DayGrid
) -> np.ndarray:
    """The grid index of each instant's store-local date (``store_zone``: index into ``zones``).

    Raises when an instant falls outside the grid."""
    import numpy as np

    out = np.empty(at_ms.size, dtype=np.int64)
    for code, zone in enumerate(zones):
        mask = store_zone == code
        if mask.any():
            out[mask] = np.searchsorted(local_day_starts(zone, grid), at_ms[mask], "right") - 1
    _check_in_grid(out, grid)
    return out


def utc_day_index(at_ms: np.ndarray, grid: DayGrid) -> np.ndarray:
    """The grid index of each instant's UTC date."""
    import numpy as np

    first_ms = (
        int(datetime(grid.first.year, grid.first.month, grid.first.day, tzinfo=UTC).timestamp())
        * 1000
    )
    out = np.floor_divide(at_ms - first_ms, DAY_MS).astype(np.int64)
    _check_in_grid(out, grid)
    return out


def _check_in_grid(index: np.ndarray, grid: DayGrid) -> None:
    if index.size and (int(index.min()) < 0 or int(index.max()) >= grid.count):
        raise ValueError(f"an instant falls outside the days {grid.first} +{grid.count}")
