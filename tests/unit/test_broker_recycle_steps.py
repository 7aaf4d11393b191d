"""The broker keeper's recycle steps while orders keep arriving: the generators wait, but the
orders API's outbox reaches the broker through CDC, so the broker's ends move until CDC stops.
The readings of the broker and the warehouse are replaced (``holdings``); the real recycle is in
tests/integration/test_broker_budget.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.fake_broker import Broker
from tillflow.runtime import broker_keeper
from tillflow.runtime.broker_keeper import BrokerKeeper, Holdings

pytestmark = pytest.mark.unit


class Cdc:
    def __init__(self) -> None:
        self.up = True

    def running(self) -> bool:
        return self.up

    def pid(self) -> int | None:
        return 1 if self.up else None

    def stop(self) -> None:
        self.up = False


def _keeper(tmp_path: Path, cdc: Cdc) -> BrokerKeeper:
    keeper = BrokerKeeper(
        SimpleNamespace(run_dir=tmp_path),  # type: ignore[arg-type]
        {"kafka": Broker(), "cdc": cdc},  # type: ignore[dict-item]
        1 << 40,  # far over this process's RSS: memory never triggers
        clock=lambda: 1000.0,
        depth_probe=lambda settings, ends: [("pos.scans", 0)],
    )
    keeper.last_ends = ("tillflow-test", {("pos.scans", 0): 10})
    keeper.deep = keeper.probe_depth()
    return keeper


def test_cdc_stops_once_everything_is_read_though_orders_keep_arriving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdc = Cdc()
    # Given a broker whose ends move at every look (an order through CDC each time), each
    # record read by the consumers before the next look
    order_events = iter(range(100, 10_000))

    def holdings(settings: object, suggestions: bool) -> Holdings:
        ends = {("oltp.public.order_events", 0): next(order_events) if cdc.up else 99}
        return Holdings({"ingestion": 0}, ends)

    monkeypatch.setattr(broker_keeper, "holdings", holdings)
    recycled: list[int] = []
    keeper = _keeper(tmp_path, cdc)
    monkeypatch.setattr(keeper, "_recycle", lambda rss, suggestions: recycled.append(rss))
    # When the supervisor looks while the consumers are caught up
    keeper._tick(["kafka", "cdc"])
    keeper._tick(["kafka", "cdc"])
    # Then CDC is stopped at once (its later changes wait in the replication slot)
    assert not cdc.up and "cdc" in keeper.paused
    assert not recycled
    # And once nothing moved between two looks, the broker is recycled
    keeper._tick(["kafka", "cdc"])
    assert len(recycled) == 1


def test_nothing_stops_while_records_are_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        broker_keeper,
        "holdings",
        lambda settings, suggestions: Holdings({"ingestion": 3}, {("pos.scans", 0): 10}),
    )
    cdc = Cdc()
    recycled: list[int] = []
    keeper = _keeper(tmp_path, cdc)
    monkeypatch.setattr(keeper, "_recycle", lambda rss, suggestions: recycled.append(rss))
    for _ in range(4):
        keeper._tick(["kafka", "cdc"])
    assert cdc.up and not keeper.paused and not recycled
