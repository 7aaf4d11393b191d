"""DAG integrity checks: import errors, cycles, owner, retries, tags and parse time per file.

Used by the DAG integrity test on `dags/` and by a test of the checker itself on bad DAG files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    file: str
    message: str


#: A hang guard, not a speed target: Airflow's own import timeout for one DAG file. A time limit
#: tight enough to be a budget fails on a busy machine; the 0.5 s parse budget is measured by the
#: benchmark `tillflow bench dags` instead.
HANG_GUARD_SECONDS = 30.0


def check_dag_folder(folder: Path, max_parse_seconds: float = HANG_GUARD_SECONDS) -> list[Problem]:
    from airflow.dag_processing.dagbag import DagBag

    problems: list[Problem] = []
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        t0 = time.perf_counter()
        bag = DagBag(dag_folder=str(path), safe_mode=False)
        elapsed = time.perf_counter() - t0
        for file, error in bag.import_errors.items():
            problems.append(
                Problem(Path(file).name, f"import error: {error.strip().splitlines()[-1]}")
            )
        if bag.import_errors:
            continue
        if not bag.dags:
            problems.append(Problem(path.name, "defines no DAG"))
        if elapsed > max_parse_seconds:
            problems.append(Problem(path.name, f"parses in {elapsed:.2f}s > {max_parse_seconds}s"))
        for dag_id, dag in bag.dags.items():
            if dag_id != path.stem:
                problems.append(Problem(path.name, f"dag_id {dag_id!r} differs from the file stem"))
            if not dag.tags:
                problems.append(Problem(path.name, f"{dag_id}: no tags"))
            if not (dag.doc_md or "").strip():
                problems.append(Problem(path.name, f"{dag_id}: no doc_md"))
            for task in dag.tasks:
                if not task.owner or task.owner.lower() == "airflow":
                    problems.append(Problem(path.name, f"{dag_id}.{task.task_id}: no owner"))
                if not task.retries:
                    problems.append(Problem(path.name, f"{dag_id}.{task.task_id}: no retries"))
            try:
                _check_acyclic(dag)
            except ValueError as exc:
                problems.append(Problem(path.name, f"{dag_id}: {exc}"))
    return problems


def _check_acyclic(dag: object) -> None:
    """Depth-first search over downstream edges; raises ValueError on a cycle."""
    tasks = {t.task_id: t for t in dag.tasks}  # type: ignore[attr-defined]
    state: dict[str, int] = {}

    def visit(task_id: str) -> None:
        if state.get(task_id) == 1:
            raise ValueError(f"cycle through task {task_id}")
        if state.get(task_id) == 2:
            return
        state[task_id] = 1
        for child in tasks[task_id].downstream_task_ids:
            visit(child)
        state[task_id] = 2

    for task_id in tasks:
        visit(task_id)
