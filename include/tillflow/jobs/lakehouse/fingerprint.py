"""What a day's export wrote, kept in the Iceberg snapshot that wrote it (pure).

Every snapshot an export commits carries, in its summary, the day, the row count and a checksum
of the warehouse rows it copied, and the table's column version. Before it writes a day again the
export computes the same of the warehouse and finds the newest snapshot of that day among the
table's ancestors: equal, the day is skipped and the table gains no snapshot. The checksum sits
in the same commit as the data, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

DAY = "tillflow.day"
ROWS = "tillflow.rows"
CHECKSUM = "tillflow.checksum"
VERSION = "tillflow.version"


@dataclass(frozen=True)
class Fingerprint:
    """A day's rows: how many, an order-free checksum of their text, the column version."""

    rows: int
    checksum: str
    version: int

    def properties(self, day: date) -> dict[str, str]:
        """The snapshot summary properties of an export of ``day``."""
        return {
            DAY: day.isoformat(),
            ROWS: str(self.rows),
            CHECKSUM: self.checksum,
            VERSION: str(self.version),
        }

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> Fingerprint | None:
        try:
            return cls(int(props[ROWS]), str(props[CHECKSUM]), int(props[VERSION]))
        except (KeyError, ValueError):
            return None


def last_export(summaries: Iterable[Mapping[str, str]], day: date) -> Fingerprint | None:
    """The fingerprint of the newest export of ``day``; ``summaries`` newest first (a table's
    snapshots from the current one back)."""
    wanted = day.isoformat()
    for props in summaries:
        if props.get(DAY) == wanted:
            return Fingerprint.from_properties(props)
    return None


def needs_export(last: Fingerprint | None, source: Fingerprint) -> bool:
    """Write the day unless its last export copied the same rows (a day never exported and
    empty in the warehouse has nothing to write)."""
    if last is None:
        return source.rows > 0
    return last != source
