"""`tillflow bench fetch-depth`'s summary: per wait, the deepest partition served and the
shallowest that was not (the figures come from the bench's own broker)."""

from __future__ import annotations

import pytest

from tillflow_bench.fetch_depth import TailFetch, limits

pytestmark = pytest.mark.unit


def _row(depth: int, served: list[bool]) -> tuple[int, list[TailFetch]]:
    return depth, [
        TailFetch(w, ok, 0.01 if ok else 5.0) for w, ok in zip((2, 50), served, strict=True)
    ]


def test_each_wait_gets_its_deepest_served_and_shallowest_empty_depth() -> None:
    rows = [_row(1_000, [True, True]), _row(10_000, [False, True]), _row(100_000, [False, False])]
    assert limits((2, 50), rows) == [
        "  fetch.wait.max.ms=2    served up to 1,000 batches, empty from 10,000",
        "  fetch.wait.max.ms=50   served up to 10,000 batches, empty from 100,000",
    ]


def test_a_wait_served_everywhere_or_nowhere_says_so() -> None:
    rows = [_row(1_000, [False, True]), _row(10_000, [False, True])]
    assert limits((2, 50), rows) == [
        "  fetch.wait.max.ms=2    served at no depth tried, empty from 1,000",
        "  fetch.wait.max.ms=50   served up to 10,000 batches",
    ]


def test_a_served_cell_shows_the_time_and_an_empty_one_says_empty() -> None:
    assert TailFetch(10, True, 0.016).cell().strip() == "16 ms"
    assert TailFetch(10, False, 5.0).cell().strip() == "empty"
