"""The broker keeper's depth trigger: a partition the probe finds too deep to serve starts the
same recycle as a broker over its memory mark (producers held back, consumers waited for). The
probe itself, against a real broker, is in tests/integration/test_broker_depth.py; here it is
replaced, and so is the reading of what the consumers hold (the broker and the warehouse)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.fake_broker import Broker
from tillflow.adapters.broker_pressure import pressure_file
from tillflow.runtime import broker_keeper
from tillflow.runtime.broker_keeper import BrokerKeeper, Holdings

pytestmark = pytest.mark.unit


class Probe:
    def __init__(self, answer: list[tuple[str, int]]) -> None:
        self.answer, self.calls = answer, 0

    def __call__(self, settings: object, ends: object) -> list[tuple[str, int]]:
        self.calls += 1
        return self.answer


def _keeper(tmp_path: Path, probe: Probe, now: list[float]) -> BrokerKeeper:
    keeper = BrokerKeeper(
        SimpleNamespace(run_dir=tmp_path),  # type: ignore[arg-type]
        {"kafka": Broker()},  # type: ignore[dict-item]
        1 << 40,  # far over this process's RSS: memory never triggers
        clock=lambda: now[0],
        depth_probe=probe,
    )
    keeper.last_ends = ("tillflow-test", {("pos.scans", 3): 1_000})  # as the note thread read
    return keeper


def test_a_partition_too_deep_holds_producers_back_until_the_consumers_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        broker_keeper, "holdings", lambda settings, suggestions: Holdings({"ingestion": 7}, {})
    )
    # Given a broker far under its memory budget whose pos.scans[3] the probe cannot read
    keeper = _keeper(tmp_path, Probe([("pos.scans", 3)]), [1000.0])
    keeper.deep = keeper.probe_depth()
    # When the supervisor looks
    keeper._tick(["kafka"])
    # Then producers wait, and the keeper waits for the consumers' 7 unread records
    body = json.loads(pressure_file(tmp_path).read_text())
    assert body["step"] == "waiting for consumers" and body["unread"] == {"ingestion": 7}
    assert keeper.pressure_since == 1000.0 and keeper.depth_recycles == 1
    # And the next look, still waiting, counts no second recycle; no probe runs meanwhile
    keeper._tick(["kafka"])
    assert keeper.depth_recycles == 1 and keeper.last["depth_recycles"] == 1
    assert keeper.probe_depth() == []


def test_shallow_partitions_leave_the_broker_alone(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, Probe([]), [1000.0])
    keeper.deep = keeper.probe_depth()
    keeper._tick(["kafka"])
    assert keeper.pressure_since is None and not pressure_file(tmp_path).exists()


def test_a_failed_probe_is_no_reason_to_recycle(tmp_path: Path) -> None:
    def broken(settings: object, ends: object) -> list[tuple[str, int]]:
        raise ConnectionError("broker restarting")

    keeper = _keeper(tmp_path, Probe([]), [1000.0])
    keeper.depth_probe = broken
    assert keeper.probe_depth() == []


def test_the_depth_watch_probes_on_its_own_thread_until_stopped(tmp_path: Path) -> None:
    probe = Probe([("pos.scans", 0)])
    keeper = _keeper(tmp_path, probe, [1000.0])
    stop = threading.Event()
    watcher = threading.Thread(target=keeper.depth_watch, args=(stop, 0.01))
    watcher.start()
    try:
        deadline = time.monotonic() + 5
        while probe.calls < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        watcher.join(5)
    assert probe.calls >= 2 and keeper.deep == [("pos.scans", 0)] and not watcher.is_alive()


def test_a_broker_restarted_while_producers_wait_ends_the_wait_with_nothing_to_recycle(
    tmp_path: Path,
) -> None:
    # Given producers held back for a recycle of the broker that had another pid
    keeper = _keeper(tmp_path, Probe([]), [1000.0])
    keeper.pressure_since, keeper.pressure_pid = 990.0, os.getpid() + 1
    pressure_file(tmp_path).write_text("{}")
    # When the next look finds the broker under a new pid (it died; the supervisor started it)
    keeper._tick(["kafka"])
    # Then the new broker is empty: the producers go on, and no recycle is counted
    assert keeper.pressure_since is None and keeper.pressure_pid is None
    assert not pressure_file(tmp_path).exists() and keeper.recycles == 0
