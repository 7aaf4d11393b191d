"""The chain's clock consequences: which churn slots and which ELT days are due (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tillflow.jobs.chain import ChainPlan, ChainState, days_ended, hours_passed

pytestmark = pytest.mark.unit

T = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def test_each_passed_hour_is_churned_once_in_order() -> None:
    assert hours_passed(None, T) == []
    last = datetime(2026, 3, 2, 9, tzinfo=UTC)  # 09:00-10:00 ended at 10:00: churned already
    assert hours_passed(last, T) == []
    # two and a half hours later: the 10:00 and 11:00 slots have ended, 12:00 has not
    assert hours_passed(last, T + timedelta(hours=2)) == [
        datetime(2026, 3, 2, 10, tzinfo=UTC),
        datetime(2026, 3, 2, 11, tzinfo=UTC),
    ]


def test_a_day_is_built_once_its_grace_has_passed_and_never_again() -> None:
    grace = timedelta(minutes=30)
    start = T.date()
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    assert days_ended(start, [], midnight + timedelta(minutes=29), grace) == []
    assert days_ended(start, [], midnight + grace, grace) == [date(2026, 3, 2)]
    assert days_ended(start, [date(2026, 3, 2)], midnight + timedelta(hours=5), grace) == []
    # a long pause, then three days have ended: each is built, in order
    later = midnight + timedelta(days=2, hours=1)
    assert days_ended(start, [date(2026, 3, 2)], later, grace) == [
        date(2026, 3, 3),
        date(2026, 3, 4),
    ]


def test_the_state_file_round_trips(tmp_path: Path) -> None:
    state = ChainState(ChainPlan(speedup=60, stores=3), 123, 100, 7, None, {"2026-03-02": "r"})
    state.save(tmp_path / "chain.json")
    assert ChainState.load(tmp_path / "chain.json") == state
    with pytest.raises(ValueError, match="speedup"):
        ChainPlan(speedup=0)
