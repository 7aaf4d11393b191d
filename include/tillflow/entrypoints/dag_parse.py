"""`tillflow bench dags`: how long each DAG file takes to parse, against the 0.5 s budget.

The DAG processor re-parses every file on a loop, so a slow top level (heavy imports, I/O,
rendering a dbt project) costs all the time. Measured the way the processor sees it: the shared
imports (Airflow, providers, Cosmos) warm, then the median and the worst of ``--repeats``
parses of the file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.config import Settings
from tillflow.entrypoints.cli import command_group

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


def _cmd(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.runtime.airflow_env import airflow_env

    os.environ.update(airflow_env(settings))  # before Airflow is imported
    # Airflow and Cosmos log every parse at INFO.
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    print(f"bench dags: {args.repeats} warm parses per file, budget {BUDGET_S} s (median)")
    results = parse_times(args.folder, args.repeats)
    for r in results:
        verdict = "ok" if r.ok else "OVER BUDGET"
        print(f"  {r.file:<32} median {r.median_s:6.3f}s  max {r.max_s:6.3f}s  "
              f"({r.median_s / BUDGET_S:4.2f} of budget) {verdict}")  # fmt: skip
    return 0 if all(r.ok for r in results) else 1


def register(sub: Any) -> None:
    p = command_group(sub, "bench", "benchmarks measured on this machine").add_parser(
        "dags", help="parse time of every DAG file against the 0.5 s budget", description=__doc__
    )
    p.add_argument("--folder", type=Path, default=config.PROJECT_ROOT / "dags")
    p.add_argument("--repeats", type=int, default=5, help="parses per file (default 5)")
    p.set_defaults(func=_cmd)
