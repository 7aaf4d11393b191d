"""The broker keeper's depth trigger: a partition the probe finds too deep to serve starts the
same recycle as a broker over its memory mark (producers held back, consumers waited for). The
probe itself, against a real broker, is in tests/integration/test_broker_depth.py; here it is
replaced, and so is the reading of what the consumers hold (the broker and the warehouse)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tillflow.adapters.broker_pressure import pressure_file
from tillflow.runtime import broker_keeper
from tillflow.runtime.broker_keeper import DEPTH_EVERY, BrokerKeeper, Holdings

pytestmark = pytest.mark.unit


class Broker:
    external = False

    def pid(self) -> int | None:
        return os.getpid()


class Probe:
    def __init__(self, answer: list[tuple[str, int]]) -> None:
        self.answer, self.calls = answer, 0

    def __call__(self, settings: object) -> list[tuple[str, int]]:
        self.calls += 1
        return self.answer


def _keeper(tmp_path: Path, probe: Probe, now: list[float]) -> BrokerKeeper:
    return BrokerKeeper(
        SimpleNamespace(run_dir=tmp_path),  # type: ignore[arg-type]
        {"kafka": Broker()},  # type: ignore[dict-item]
        1 << 40,  # far over this process's RSS: memory never triggers
        clock=lambda: now[0],
        depth_probe=probe,
    )


def test_a_partition_too_deep_holds_producers_back_until_the_consumers_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        broker_keeper, "holdings", lambda settings, suggestions: Holdings({"ingestion": 7}, {})
    )
    # Given a broker far under its memory budget whose pos.scans[3] the probe cannot read
    keeper = _keeper(tmp_path, Probe([("pos.scans", 3)]), [1000.0])
    # When the supervisor looks
    keeper._tick(["kafka"])
    # Then producers wait, and the keeper waits for the consumers' 7 unread records
    body = json.loads(pressure_file(tmp_path).read_text())
    assert body["step"] == "waiting for consumers" and body["unread"] == {"ingestion": 7}
    assert keeper.pressure_since == 1000.0 and keeper.depth_recycles == 1
    assert keeper.last["depth_recycles"] == 1


def test_shallow_partitions_leave_the_broker_alone_and_the_probe_runs_every_few_seconds(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    probe = Probe([])
    keeper = _keeper(tmp_path, probe, now)
    keeper._tick(["kafka"])
    now[0] += DEPTH_EVERY / 2
    keeper._tick(["kafka"])
    assert probe.calls == 1  # not again within DEPTH_EVERY
    now[0] += DEPTH_EVERY
    keeper._tick(["kafka"])
    assert probe.calls == 2
    assert keeper.pressure_since is None and not pressure_file(tmp_path).exists()


def test_a_failed_probe_is_no_reason_to_recycle(tmp_path: Path) -> None:
    def broken(settings: object) -> list[tuple[str, int]]:
        raise ConnectionError("broker restarting")

    keeper = _keeper(tmp_path, Probe([]), [1000.0])
    keeper.depth_probe = broken
    keeper._tick(["kafka"])
    assert keeper.pressure_since is None
