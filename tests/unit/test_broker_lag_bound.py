"""The broker keeper's lag bound: producers wait while the continuous ingestion has more than
``lag_bound`` records unread, and go on once it is down to half (what a killed broker can take
is then about the bound). The readings of the broker and the warehouse are replaced
(``holdings``); the generator side is tests/unit/test_broker_pressure.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.fake_broker import Broker
from tillflow.adapters.broker_pressure import describe, read_pressure
from tillflow.runtime import broker_keeper
from tillflow.runtime.broker_keeper import BrokerKeeper, Holdings

pytestmark = pytest.mark.unit

WANTED = ["kafka", "ingest"]


def _keeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unread: list[int]) -> BrokerKeeper:
    def holdings(settings: object, suggestions: bool) -> Holdings:
        return Holdings({"ingestion": unread[0]}, {("pos.scans", 0): 10**9})

    monkeypatch.setattr(broker_keeper, "holdings", holdings)
    return BrokerKeeper(
        SimpleNamespace(run_dir=tmp_path),  # type: ignore[arg-type]
        {"kafka": Broker()},  # type: ignore[dict-item]
        1 << 40,  # far over this process's RSS: memory never triggers
        lag_bound=1000,
        clock=lambda: 1000.0,
    )


def test_producers_wait_past_the_bound_until_half_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unread = [1000]
    keeper = _keeper(tmp_path, monkeypatch, unread)
    # At the bound: producers go on
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is None
    # Past it: they wait, and the line they print says for what
    unread[0] = 1001
    keeper._tick(WANTED)
    body = read_pressure(tmp_path)
    assert body is not None and body["lag_bound"] == 1000
    assert "ingestion 1,001" in describe(body, 3) and "bound of 1,000" in describe(body, 3)
    # Still past half of it: they keep waiting
    unread[0] = 501
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is not None
    # Down to half: they go on, and the hold is counted once
    unread[0] = 500
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is None
    assert keeper.lag_since is None and keeper.lag_holds == 1
    assert keeper.last["lag_holds"] == 1


def test_no_hold_without_the_continuous_ingestion_or_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unread = [10**6]
    keeper = _keeper(tmp_path, monkeypatch, unread)
    keeper._tick(["kafka"])  # ingestion runs on demand (available-now), not continuously
    assert read_pressure(tmp_path) is None
    keeper.lag_bound = 0
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is None


def test_a_hold_ends_when_ingestion_is_no_longer_wanted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keeper = _keeper(tmp_path, monkeypatch, [5000])
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is not None
    keeper._tick(["kafka"])
    assert read_pressure(tmp_path) is None and keeper.lag_since is None


def test_a_recycle_takes_over_the_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = _keeper(tmp_path, monkeypatch, [5000])
    keeper._tick(WANTED)
    assert keeper.lag_since is not None
    # The broker crosses its memory budget meanwhile: the recycle's hold replaces the lag's
    keeper.budget_bytes = 1
    assert keeper.watch_once()
    assert keeper.lag_since is None
    body = read_pressure(tmp_path)
    assert body is not None and not body.get("lag_bound")


def test_the_bound_holds_at_a_look_that_found_a_service_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unread = [5000]
    keeper = _keeper(tmp_path, monkeypatch, unread)
    # A look with the continuous ingestion down (no recycle then): its lag grows fastest now
    keeper.tick_lag(WANTED)
    assert read_pressure(tmp_path) is not None
    unread[0] = 100
    keeper.tick_lag(WANTED)
    assert read_pressure(tmp_path) is None


def test_an_unreadable_lag_keeps_the_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = _keeper(tmp_path, monkeypatch, [5000])
    keeper._tick(WANTED)

    def away(settings: object, suggestions: bool) -> Holdings:
        raise ConnectionError("the warehouse is restarting")

    monkeypatch.setattr(broker_keeper, "holdings", away)
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is not None and keeper.lag_since is not None
