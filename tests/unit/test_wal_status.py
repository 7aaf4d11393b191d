"""`tillflow status`'s WAL section: a line per slot, a warning past the limit or for a lost slot."""

from __future__ import annotations

import pytest

from tillflow.config import wal_keep_size
from tillflow.runtime.wal import GB, SlotWal, judge

pytestmark = pytest.mark.unit


def test_a_slot_within_the_limit_gets_no_warning() -> None:
    lines = judge([SlotWal("tillflow_cdc", True, "reserved", GB // 2)], GB, 4 * GB)
    assert not [line for line in lines if line.startswith("WARNING")]
    assert "tillflow_cdc" in lines[1] and "0.50 GB" in lines[1]


def test_a_stopped_consumer_holding_too_much_wal_is_warned_with_the_fix() -> None:
    lines = judge([SlotWal("tillflow_cdc", False, "extended", 5 * GB)], 6 * GB, 4 * GB)
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert len(warnings) == 1
    assert "5.0 GB" in warnings[0] and "not running" in warnings[0] and "tillflow up" in warnings[0]


def test_an_invalidated_slot_says_how_to_recover() -> None:
    lines = judge([SlotWal("tillflow_cdc", False, "lost", 0)], GB, 4 * GB)
    assert any(
        "invalidated" in line and "snapshots" in line and "tillflow up cdc" in line
        for line in lines
    )


def test_the_bound_is_named_when_it_is_known() -> None:
    lines = judge([], GB, 4 * GB, "16GB")
    assert lines[0].endswith("a slot is invalidated past 16GB)")
    unbounded = judge([], GB, 4 * GB, "-1")
    assert "no bound" in unbounded[0] and "TILLFLOW_PG_MAX_SLOT_WAL_KEEP" in unbounded[0]


@pytest.mark.parametrize("value", ["16GB", "512MB", "1TB", "-1", " 8GB "])
def test_a_wal_bound_is_a_whole_size_or_minus_one(value: str) -> None:
    assert wal_keep_size(value) == value.strip()


@pytest.mark.parametrize("value", ["16", "16 GB", "0GB", "1.5GB", "lots", ""])
def test_a_bad_wal_bound_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match="TILLFLOW_PG_MAX_SLOT_WAL_KEEP"):
        wal_keep_size(value)
