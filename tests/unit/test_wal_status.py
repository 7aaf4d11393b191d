"""`tillflow status`'s WAL section: a line per slot, a warning past the limit or for a lost slot."""

from __future__ import annotations

import pytest

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
    assert any("invalidated" in line and "snapshot again" in line for line in lines)
