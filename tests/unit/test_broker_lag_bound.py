"""The broker keeper's lag bound: producers wait while the continuous ingestion has more than
``lag_bound`` records unread, and go on once it is down to half (what a killed broker can take
is then about the bound). The broker's end offsets are what the note thread last read
(``last_ends``), ingestion's commit log is replaced (``ingestion_read``); the generator side is
tests/unit/test_broker_pressure.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.fake_broker import Broker
from tillflow.adapters.broker_pressure import describe, read_pressure
from tillflow.runtime import broker_keeper
from tillflow.runtime.broker_keeper import BrokerKeeper

pytestmark = pytest.mark.unit

WANTED = ["kafka", "ingest"]
END = 10**9
CLUSTER = "tillflow-test"


def _keeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unread: list[int]) -> BrokerKeeper:
    def ingestion_read(settings: object, cluster: str) -> dict[tuple[str, int], int]:
        assert cluster == CLUSTER  # the commit log of the incarnation the ends are of
        return {("pos.scans", 0): END - unread[0]}

    monkeypatch.setattr(broker_keeper, "ingestion_read", ingestion_read)
    keeper = BrokerKeeper(
        SimpleNamespace(run_dir=tmp_path),  # type: ignore[arg-type]
        {"kafka": Broker()},  # type: ignore[dict-item]
        1 << 40,  # far over this process's RSS: memory never triggers
        lag_bound=1000,
        clock=lambda: 1000.0,
    )
    keeper.last_ends = (CLUSTER, {("pos.scans", 0): END})  # as the note thread read
    return keeper


# `_tick`: a look at a healthy stack; `tick_lag`: a look that found a service down (the
# continuous ingestion restarting, when its lag grows fastest), where recycles wait.
@pytest.mark.parametrize("look", ["_tick", "tick_lag"])
def test_producers_wait_past_the_bound_until_half_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, look: str
) -> None:
    unread = [1000]
    keeper = _keeper(tmp_path, monkeypatch, unread)
    tick = getattr(keeper, look)
    # At the bound: producers go on
    tick(WANTED)
    assert read_pressure(tmp_path) is None
    # Past it: they wait, and the line they print says for what
    unread[0] = 1001
    tick(WANTED)
    body = read_pressure(tmp_path)
    assert body is not None and body["lag_bound"] == 1000
    assert "ingestion 1,001" in describe(body, 3) and "bound of 1,000" in describe(body, 3)
    # Still past half of it: they keep waiting
    unread[0] = 501
    tick(WANTED)
    assert read_pressure(tmp_path) is not None
    # Down to half: they go on, and the hold is counted once
    unread[0] = 500
    tick(WANTED)
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


def test_an_unreadable_lag_keeps_the_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = _keeper(tmp_path, monkeypatch, [5000])
    keeper._tick(WANTED)

    def away(settings: object, cluster: str) -> dict[tuple[str, int], int]:
        raise ConnectionError("the warehouse is restarting")

    monkeypatch.setattr(broker_keeper, "ingestion_read", away)
    keeper._tick(WANTED)
    assert read_pressure(tmp_path) is not None and keeper.lag_since is not None
