"""The backpressure signal's pieces: what a consumer has not read, and the producers' line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tillflow.adapters.broker_pressure import describe, pressure_file, read_pressure
from tillflow.runtime.broker_keeper import Holdings, unread_total

pytestmark = pytest.mark.unit


def test_unread_counts_only_what_lies_past_each_consumers_position() -> None:
    ends = {("s", 0): 100, ("s", 1): 50, ("o", 0): 7}
    # a partition never read counts whole; one read past its end (a stale end) counts 0
    assert unread_total(ends, {("s", 0): 60, ("s", 1): 80}) == 40 + 0 + 7
    assert unread_total(ends, dict(ends)) == 0
    assert Holdings({"ingestion": 3, "suggestions": 0}).describe() == "ingestion 3"
    assert Holdings({"ingestion": 0}).describe() == "nothing"


def test_no_file_means_produce_and_a_file_says_why_to_wait(tmp_path: Path) -> None:
    assert read_pressure(tmp_path) is None
    body = {"rss": 60 << 20, "budget": 64 << 20, "unread": {"ingestion": 1234}, "step": "x"}
    pressure_file(tmp_path).write_text(json.dumps(body))
    got = read_pressure(tmp_path)
    assert got == body
    line = describe(body, 12.4)
    assert "60 MB of its 64 MB" in line and "ingestion 1,234" in line and "12s" in line
    pressure_file(tmp_path).write_text("{half")  # a file being replaced: not a signal
    assert read_pressure(tmp_path) is None


def test_a_file_whose_keeper_is_gone_holds_nobody_back(tmp_path: Path) -> None:
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    pressure_file(tmp_path).write_text(json.dumps({"pid": gone.pid, "rss": 1, "budget": 2}))
    assert read_pressure(tmp_path) is None
