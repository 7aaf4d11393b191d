"""The broker keeper's watch between the supervisor's looks: producers are held back the moment
the broker crosses its pressure mark, not at the next look. The broker here is this test's own
process (its RSS is real, read from /proc); the recycle itself is in
tests/integration/test_broker_budget.py."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.fake_broker import Broker
from tillflow.adapters.broker_pressure import pressure_file
from tillflow.runtime.broker_keeper import PRESSURE_AT, BrokerKeeper, rss_bytes

pytestmark = pytest.mark.unit


def _keeper(tmp_path: Path, budget: int) -> BrokerKeeper:
    settings = SimpleNamespace(run_dir=tmp_path)
    return BrokerKeeper(settings, {"kafka": Broker()}, budget, clock=lambda: 1234.0)  # type: ignore[arg-type, dict-item]


def test_a_broker_over_its_mark_holds_producers_back_at_once(tmp_path: Path) -> None:
    rss = rss_bytes(os.getpid())
    # Given a budget whose pressure mark this broker is past
    keeper = _keeper(tmp_path, int(rss / PRESSURE_AT) - (1 << 20))
    # When the watch reads it
    assert keeper.watch_once()
    # Then the producers' signal is there, saying why, and the keeper's look takes it from there
    body = json.loads(pressure_file(tmp_path).read_text())
    assert body["rss"] >= rss and body["step"] == "waiting for the keeper's next look"
    assert keeper.pressure_since == 1234.0
    # And a second reading changes nothing
    assert not keeper.watch_once()


def test_a_broker_under_its_mark_is_left_alone(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, 64 * rss_bytes(os.getpid()))
    assert not keeper.watch_once()
    assert not pressure_file(tmp_path).exists() and keeper.pressure_since is None


def test_the_watch_waits_while_a_look_is_under_way(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, 1 << 20)  # far over its mark
    with keeper._lock:  # a look (maybe a recycle) holds it
        assert not keeper.watch_once()
    assert not pressure_file(tmp_path).exists()
    stop = threading.Event()
    watcher = threading.Thread(target=keeper.watch, args=(stop, 0.01))
    watcher.start()
    try:
        for _ in range(200):
            if pressure_file(tmp_path).exists():
                break
            stop.wait(0.01)
    finally:
        stop.set()
        watcher.join()
    assert pressure_file(tmp_path).exists()
