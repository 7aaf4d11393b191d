"""The judging of consecutive bench runs and the stack line printed beside them (pure logic)."""

from __future__ import annotations

import pytest

from tillflow_bench.commands import _runs_summary
from tillflow_bench.ingest import meets_freshness
from tillflow_bench.stack_context import StackContext


def lat(p95: float, p99: float) -> dict[str, float]:
    return {"p50": 0.5, "p95": p95, "p99": p99, "events": 100, "missing": 0}


@pytest.mark.parametrize(
    ("latency", "expected"),
    [
        ({0.5: lat(0.98, 1.2)}, True),
        ({0.5: lat(1.02, 1.2)}, False),  # p95 over 1.0 s
        ({0.5: lat(0.9, 1.6)}, False),  # p99 over 1.5 s
        ({1.0: lat(0.4, 0.5)}, None),  # the default trigger (0.5 s) was not run
        ({0.5: {"error": "none visible"}}, None),
    ],
)
def test_freshness_is_judged_at_the_default_trigger(
    latency: dict[float, dict[str, float]], expected: bool | None
) -> None:
    assert meets_freshness({"latency": latency}) is expected


def test_every_run_must_meet_the_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert _runs_summary("x", [True, True, True]) == 0
    assert "3 of 3" in capsys.readouterr().out
    assert _runs_summary("x", [True, False, True]) == 1
    assert "2 of 3 consecutive runs met the targets (ok MISSED ok)" in capsys.readouterr().out
    assert _runs_summary("x", [True, None]) == 1


def test_the_stack_line_names_the_mode_and_the_baseline() -> None:
    whole = StackContext(("postgres", "kafka", "redis", "cdc"), 10, 0.0656, 0.09, (0.3, 0.4, 0.5))
    assert whole.line().startswith("stack (whole stack): 4 services running; idle baseline 6.56 %")
    bare = StackContext(("postgres", "kafka", "redis"), 10, 0.001, 0.02, (0.1, 0.1, 0.1))
    assert "stack (bare)" in bare.line()
