"""The fetch-wait bench's verdict: whether latency grows with the consumer's fetch wait."""

from __future__ import annotations

import pytest

from tillflow_bench.fetch_wait import WaitFigures, latency_grows_with_wait

pytestmark = pytest.mark.unit


def _figures(*p50s: tuple[int, float]) -> list[WaitFigures]:
    return [WaitFigures(wait, 0.01, p50, p50 * 2, p50 * 3) for wait, p50 in p50s]


def test_latency_that_follows_the_wait_is_seen() -> None:
    # Given a broker that answers only when the wait ends (the median near half the wait)
    figures = _figures((2, 2.7), (100, 24.3), (500, 173.8))
    assert latency_grows_with_wait(figures)


def test_a_broker_with_a_wake_up_is_not_blamed() -> None:
    # Given a broker that answers a waiting fetch as soon as a record arrives
    figures = _figures((500, 3.1), (2, 2.7), (100, 2.9))
    assert not latency_grows_with_wait(figures)


def test_the_line_names_the_wait_and_the_figures() -> None:
    line = WaitFigures(10, 0.063, 4.7, 7.7, 10.5).line()
    assert "fetch.wait.max.ms=10" in line and "6.3 %" in line and "p99   10.5" in line
