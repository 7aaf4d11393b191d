"""The suggestion bench's stage breakdown: pure arithmetic over the latency log's timestamps."""

from __future__ import annotations

import pytest

from tillflow_bench.suggestions import STAGES, stage_breakdown


def test_each_stage_is_the_gap_between_its_two_timestamps() -> None:
    # order 1: acked by the broker at 10.000; consumed +2 ms, decided +1 ms, stored +3 ms,
    # suggestion acked +0.5 ms
    logged = {1: (10.0065, 10.002, 10.003, 10.006)}
    stages = stage_breakdown(logged, {1: 10.000})
    assert list(stages) == list(STAGES)
    assert [p50 for p50, _ in stages.values()] == pytest.approx([2.0, 1.0, 3.0, 0.5])


def test_orders_the_bench_did_not_see_acknowledged_are_left_out() -> None:
    logged = {1: (1.004, 1.001, 1.002, 1.003), 2: (9.0, 9.0, 9.0, 9.0)}
    stages = stage_breakdown(logged, {1: 1.000})
    assert stages["broker to service"] == pytest.approx((1.0, 1.0))


def test_p99_comes_from_the_slow_tail() -> None:
    logged = {i: (i + 0.004, i + 0.001, i + 0.002, i + 0.003) for i in range(100)}
    for i in (98, 99):  # two slow stores of 17 ms: the 99th percentile of 100
        logged[i] = (i + 0.020, i + 0.001, i + 0.002, i + 0.019)
    stages = stage_breakdown(logged, {i: float(i) for i in range(100)})
    p50, p99 = stages["queue and store"]
    assert p50 == pytest.approx(1.0)
    assert p99 == pytest.approx(17.0)
