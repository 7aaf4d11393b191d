"""`tillflow bench elt-dag`'s arithmetic: task times relative to the run's first task, the
sensors counted without the producer (or its end marker) and without tasks that never ran, and
the ratio's verdict."""

from __future__ import annotations

from datetime import date

from tillflow_bench.elt_dag import DagBenchResult, latest_interval, task_times


def _ti(task_id: str, start: str | None, end: str | None, state: str = "success") -> dict:
    duration = None
    if start and end:
        duration = float(end[-2:]) - float(start[-2:])
    return {
        "task_id": task_id,
        "state": state,
        "start_date": f"2026-12-06T10:00:{start}+00:00" if start else None,
        "end_date": f"2026-12-06T10:00:{end}+00:00" if end else None,
        "duration": duration,
    }


RAW = [
    _ti("dbt.fct_sales.run", "20", "31"),
    _ti("gx_raw_gate", "02", "05"),
    _ti("dbt.dbt_producer_watcher", "10", "25"),
    _ti("dbt.dbt_producer_watcher_done", "26", "26"),
    _ti("dbt.never_started.test", None, None, "upstream_failed"),
    _ti("gx_marts_gate", "40", "44"),
]


def test_task_times_are_relative_to_the_first_task_and_ordered() -> None:
    times = task_times(RAW)
    assert [t.task_id for t in times][:2] == ["dbt.never_started.test", "gx_raw_gate"]
    raw_gate = next(t for t in times if t.task_id == "gx_raw_gate")
    assert (raw_gate.start, raw_gate.end, raw_gate.duration) == (0.0, 3.0, 3.0)


def test_sensors_leave_out_the_producer_its_marker_and_tasks_that_never_ran() -> None:
    result = DagBenchResult(date(2026, 12, 5), 10, 20.0, "r", "success", 42.0, task_times(RAW))
    assert [s.task_id for s in result.sensors()] == ["dbt.fct_sales.run"]
    assert result.ratio == 2.1
    text = "\n".join(result.lines(target_ratio=1.5))
    assert "ratio DAG / dbt alone: 2.10 (ABOVE the 1.5 target)" in text
    assert "last green at 29.0, 6.0s after the producer" in text
    assert "ok" in "\n".join(result.lines(target_ratio=2.5)).split("ratio")[1].splitlines()[0]


def test_the_latest_interval_is_yesterday() -> None:
    from datetime import UTC, datetime

    assert latest_interval(datetime(2026, 12, 6, 0, 30, tzinfo=UTC)) == date(2026, 12, 5)


def test_the_late_day_rebuilds_are_shown_apart_and_left_out_of_the_ratio() -> None:
    raw = [*RAW, _ti("rebuild_late_days", "05", "15")]
    late = ("2026-12-04: 12 late scans",)
    result = DagBenchResult(
        date(2026, 12, 5), 10, 20.0, "r", "success", 42.0, task_times(raw), late
    )
    assert result.late_seconds == 10.0 and result.ratio == 1.6
    assert "of which 10.0s rebuilt earlier days first (2026-12-04: 12 late scans)" in "\n".join(
        result.lines(target_ratio=1.5)
    )
