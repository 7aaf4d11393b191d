"""The lakehouse DAG's glue: the data intervals of the ELT runs whose asset events triggered it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def elt_intervals(
    events_by_asset: Mapping[Any, Iterable[Any]], elt_dag: str
) -> dict[str, tuple[datetime, datetime]]:
    """Run id -> data interval of each distinct ``elt_dag`` run among the triggering asset
    events (``triggering_asset_events``: every mart's event names the same run). Events of
    other DAGs, or set by hand, name none."""
    intervals: dict[str, tuple[datetime, datetime]] = {}
    for events in events_by_asset.values():
        for event in events:
            run_id = event.source_run_id
            if event.source_dag_id != elt_dag or not run_id or run_id in intervals:
                continue
            run = event.source_dag_run
            if run is not None and run.data_interval_start and run.data_interval_end:
                intervals[str(run_id)] = (run.data_interval_start, run.data_interval_end)
    return intervals
