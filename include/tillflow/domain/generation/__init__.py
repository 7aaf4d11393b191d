"""Seeded, vectorised generators: reference data, POS scans, item-master churn.

Everything is derived from one base seed (``DEFAULT_SEED`` unless given), so a run can be repeated
exactly: the reference tables from the seed alone, the scans of an hour from (seed, date, hour),
the churn of a slot from (seed, slot).
"""

from __future__ import annotations

from typing import Final

DEFAULT_SEED: Final = 20261121
