"""`tillflow bench dags`: how long each DAG file takes to parse, against the 0.5 s budget.

The DAG processor re-parses every file on a loop, so a slow top level (heavy imports, I/O,
rendering a dbt project) costs all the time. Measured the way the processor sees it: the shared
imports (Airflow, providers, Cosmos) warm, then the median and the worst of ``--repeats``
parses of the file.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

BUDGET_S = 0.5


@dataclass(frozen=True)
class ParseTime:
    file: str
    median_s: float
    max_s: float
    dags: int

    @property
    def ok(self) -> bool:
        return self.median_s < BUDGET_S


def parse_times(folder: Path, repeats: int = 5) -> list[ParseTime]:
    from airflow.dag_processing.dagbag import DagBag

    results: list[ParseTime] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        bag = DagBag(dag_folder=str(path), safe_mode=False)  # warm the shared imports
        if bag.import_errors:
            raise RuntimeError(f"{path.name} does not import: {bag.import_errors}")
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            DagBag(dag_folder=str(path), safe_mode=False)
            times.append(time.perf_counter() - t0)
        results.append(ParseTime(path.name, statistics.median(times), max(times), len(bag.dags)))
    return results
