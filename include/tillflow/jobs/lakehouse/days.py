"""Which days an export covers (pure).

A daily ELT run over the UTC interval [start, end) lands the raw scans of those UTC days and
rebuilds the daily sales summary's business dates from the day before ``start`` to ``end``'s
date (a store's calendar day spans two UTC dates: ``_marts__models.yml``); the orders' mart
follows the UTC days. A run that names no interval (an asset event set by hand) exports the last
``lookback`` days before its own day. Exporting a day again costs a comparison and no write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta


def day_range(first: date, last: date) -> list[date]:
    """``first`` .. ``last``, both included."""
    if last < first:
        raise ValueError(f"the last day {last} is before the first {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def utc_days(start: datetime, end: datetime) -> list[date]:
    """The UTC days that [start, end) overlaps."""
    if end <= start:
        raise ValueError(f"empty interval [{start}, {end})")
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return day_range(first, last)


@dataclass(frozen=True)
class ExportPlan:
    """The days of the raw tables and the days of the marts to export."""

    raw_days: frozenset[date] = field(default_factory=frozenset)
    mart_days: frozenset[date] = field(default_factory=frozenset)

    def __or__(self, other: ExportPlan) -> ExportPlan:
        return ExportPlan(self.raw_days | other.raw_days, self.mart_days | other.mart_days)

    @property
    def days(self) -> list[date]:
        return sorted(self.raw_days | self.mart_days)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "raw_days": [d.isoformat() for d in sorted(self.raw_days)],
            "mart_days": [d.isoformat() for d in sorted(self.mart_days)],
        }

    @classmethod
    def from_dict(cls, value: dict[str, list[str]]) -> ExportPlan:
        return cls(
            frozenset(date.fromisoformat(d) for d in value.get("raw_days", [])),
            frozenset(date.fromisoformat(d) for d in value.get("mart_days", [])),
        )


def for_days(days: Iterable[date]) -> ExportPlan:
    """Every table on each of ``days``."""
    chosen = frozenset(days)
    return ExportPlan(chosen, chosen)


def for_interval(start: datetime, end: datetime) -> ExportPlan:
    """What an ELT run over [start, end) built: its UTC days for raw, and the business dates
    from the day before to the end's date for the marts."""
    raw = utc_days(start, end)
    marts = day_range(raw[0] - timedelta(days=1), raw[-1] + timedelta(days=1))
    return ExportPlan(frozenset(raw), frozenset(marts))


def for_lookback(today: date, lookback: int) -> ExportPlan:
    """The ``lookback`` days before ``today`` (today excluded: not complete)."""
    if lookback < 0:
        raise ValueError(f"lookback must be >= 0, got {lookback}")
    return for_days(today - timedelta(days=n) for n in range(1, lookback + 1))


def for_runs(
    intervals: Iterable[tuple[datetime, datetime]], today: date, lookback: int
) -> ExportPlan:
    """The days of the ELT runs whose marts triggered the export, with the ``lookback`` days
    before the newest run (late days a run rebuilt are among them); the lookback alone, before
    ``today``, when no run is known."""
    known = list(intervals)
    plan = ExportPlan()
    for start, end in known:
        plan |= for_interval(start, end)
    anchor = max((start.astimezone(UTC).date() for start, _ in known), default=today)
    return plan | for_lookback(anchor, lookback)
