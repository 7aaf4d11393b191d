"""The supervisor's decisions (backoff, phase order, unhealthy restarts) over fake services and
a fake clock; the real processes are in tests/integration/test_supervision.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tillflow.runtime import supervisor
from tillflow.runtime.supervisor import Supervisor, backoff, mark_wanted

pytestmark = pytest.mark.unit


class FakeService:
    external = False
    health_timeout = 5.0

    def __init__(self, name: str, phase: int, unhealthy_after: float | None = None) -> None:
        self.name = name
        self.phase = phase
        self.restart_unhealthy_after = unhealthy_after
        self.log_file = Path("/nonexistent") / f"{name}.log"
        self.alive = True
        self.ok = True
        self.fail_start = False
        self.starts = 0
        self.stops = 0
        self.readied = 0
        self._pid = 100

    def pid(self) -> int | None:
        return self._pid if self.alive else None

    def healthy(self) -> bool:
        return self.alive and self.ok

    def preflight(self) -> None:
        pass

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("port taken\nmore")
        self.starts += 1
        self._pid += 1
        self.alive = True

    def on_ready(self) -> None:
        self.readied += 1

    def stop(self) -> bool:
        self.stops += 1
        self.alive = False
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _supervise(tmp_path: Path, *services: FakeService) -> tuple[Supervisor, Clock]:
    clock = Clock()
    for s in services:
        mark_wanted(tmp_path, s.name, True)
    sup = Supervisor(list(services), tmp_path, clock=clock)  # type: ignore[arg-type]
    sup.tick()
    return sup, clock


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 7, 20)] == [1, 2, 4, 8, 60, 60]


def test_a_dead_service_restarts_after_its_backoff_and_a_crash_loop_waits_longer(
    tmp_path: Path,
) -> None:
    svc = FakeService("kafka", 1)
    sup, clock = _supervise(tmp_path, svc)
    svc.alive = False
    sup.tick()  # seen dead: first restart is due in 1 s
    assert svc.starts == 0
    clock.now += 1
    sup.tick()
    assert svc.starts == 1 and sup.records["kafka"].restarts == 1
    sup.tick()
    assert svc.readied == 1  # healthy again: its on-ready step (the broker's topics) ran once
    sup.tick()
    assert svc.readied == 1
    # dies again at once: 2 s now, then 4 s
    svc.alive = False
    clock.now += 1
    sup.tick()
    clock.now += 1.5
    sup.tick()
    assert svc.starts == 1
    clock.now += 0.5
    sup.tick()
    assert svc.starts == 2 and sup.records["kafka"].failures == 2
    # stays up past STABLE_AFTER: the next death waits 1 s again
    clock.now += supervisor.STABLE_AFTER + 1
    sup.tick()
    svc.alive = False
    sup.tick()
    assert sup.records["kafka"].next_try_at == clock.now + 1


def test_a_later_phase_waits_for_an_earlier_one(tmp_path: Path) -> None:
    db, app = FakeService("postgres", 0), FakeService("cdc", 3)
    sup, clock = _supervise(tmp_path, db, app)
    db.alive = app.alive = False
    db.ok = False  # restarted, but not accepting connections yet
    for _ in range(5):
        clock.now += 1
        sup.tick()
    assert db.starts == 1 and app.starts == 0
    db.ok = True
    for _ in range(2):  # seen dead, then its 1 s backoff
        clock.now += 1
        sup.tick()
    assert app.starts == 1


def test_an_unwanted_service_is_left_alone(tmp_path: Path) -> None:
    svc = FakeService("redis", 1)
    sup, clock = _supervise(tmp_path, svc)
    mark_wanted(tmp_path, "redis", False)
    svc.alive = False
    clock.now += 10
    sup.tick()
    assert svc.starts == 0


def test_a_service_that_down_stops_wanting_during_a_look_is_not_restarted(
    tmp_path: Path,
) -> None:
    """`tillflow run --stop` ran `down` for the ingestion while the supervisor's look was
    restarting the services of the same phase: the ingestion came back after its `down`, and
    outlived the stack (found after a CI run)."""
    cdc, ingest = FakeService("cdc", 3), FakeService("ingest", 3)
    sup, clock = _supervise(tmp_path, cdc, ingest)
    cdc.alive = ingest.alive = False
    sup.tick()  # both seen dead: restarts due in 1 s
    started = cdc.start

    def start_while_down_runs() -> None:
        started()
        mark_wanted(tmp_path, "ingest", False)  # `down` of the ingestion, mid-look

    cdc.start = start_while_down_runs  # type: ignore[method-assign]
    clock.now += 1
    sup.tick()
    assert cdc.starts == 1
    assert ingest.starts == 0 and sup.records["ingest"].next_try_at is None


def test_a_live_but_stuck_service_is_restarted_after_its_limit(tmp_path: Path) -> None:
    svc = FakeService("suggestions", 3, unhealthy_after=60)
    sup, clock = _supervise(tmp_path, svc)
    clock.now += 10  # past its health timeout
    svc.ok = False
    sup.tick()
    clock.now += 59
    sup.tick()
    assert svc.stops == 0
    clock.now += 2
    sup.tick()
    assert svc.stops == 1
    assert "unhealthy for 61s" in str(sup.records["suggestions"].last_exit)
    clock.now += 1
    svc.ok = True
    sup.tick()
    assert svc.starts == 1


def test_a_failed_restart_is_recorded_and_retried(tmp_path: Path) -> None:
    svc = FakeService("orders-api", 3)
    sup, clock = _supervise(tmp_path, svc)
    svc.alive, svc.fail_start = False, True
    sup.tick()
    clock.now += 1
    sup.tick()
    rec = sup.records["orders-api"]
    assert rec.last_error == "port taken" and rec.next_try_at == clock.now + 2
    svc.fail_start = False
    clock.now += 2
    sup.tick()
    assert svc.starts == 1 and rec.last_error is None


def test_the_state_file_is_what_status_reads(tmp_path: Path) -> None:
    svc = FakeService("kafka", 1)
    sup, _ = _supervise(tmp_path, svc)
    svc.alive = False
    sup.tick()
    state: dict[str, Any] = supervisor.read_state(tmp_path)
    assert state["services"]["kafka"]["last_exit"].startswith("exit status unknown")


class KeeperCalls:
    """Records which of the broker keeper's looks the supervisor asked for."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.paused: set[str] = set()
        self.last: dict[str, Any] = {}

    def tick(self, wanted: Any) -> None:
        self.calls.append("tick")

    def tick_lag(self, wanted: Any) -> None:
        self.calls.append("tick_lag")


def test_a_look_with_a_service_down_still_bounds_ingestions_lag(tmp_path: Path) -> None:
    broker, ingest = FakeService("kafka", 1), FakeService("ingest", 3)
    keeper = KeeperCalls()
    for s in (broker, ingest):
        mark_wanted(tmp_path, s.name, True)
    sup = Supervisor([broker, ingest], tmp_path, keeper=keeper, clock=Clock())  # type: ignore[arg-type, list-item]
    sup.tick()
    assert keeper.calls == ["tick"]  # all healthy: the whole keeper (recycles too)
    ingest.alive = False
    sup.tick()
    assert keeper.calls == ["tick", "tick_lag"]  # ingestion down: the lag bound alone
