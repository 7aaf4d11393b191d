"""`down` of the whole stack stops an opt-in service (the continuous ingestion, the chain) that
still runs after its plan was dropped, and stops it after the supervisor, so nothing restarts
it; the services are fakes (the real stop is in tests/integration/test_stack_lifecycle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tillflow.config import Settings
from tillflow.runtime import manager

pytestmark = pytest.mark.unit


class Fake:
    external = False

    def __init__(self, name: str, running: bool, order: list[str]) -> None:
        self.name, self.running, self.order = name, running, order

    def pid(self) -> int | None:
        return 4242 if self.running else None

    def stop(self) -> bool:
        was = self.running
        self.running = False
        self.order.append(self.name)
        return was


def test_down_stops_a_running_opt_in_service_the_registry_no_longer_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    order: list[str] = []
    listed = [Fake("postgres", True, order), Fake("supervisor", True, order)]
    ingest, chain = Fake("ingest", True, order), Fake("chain", False, order)
    monkeypatch.setattr(manager, "all_services", lambda settings: listed)
    monkeypatch.setattr(manager, "optional_services", lambda settings: [ingest, chain])
    monkeypatch.setenv("TILLFLOW_HOME", str(tmp_path))
    stopped = manager.down(Settings.from_env(), echo=lambda line: None)
    assert stopped == ["supervisor", "ingest", "postgres"]
    assert order == ["supervisor", "ingest", "postgres"]  # the chain was not running: not touched


def test_down_of_named_services_leaves_the_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    order: list[str] = []
    listed = [Fake("postgres", True, order), Fake("supervisor", True, order)]
    monkeypatch.setattr(manager, "all_services", lambda settings: listed)
    monkeypatch.setattr(
        manager, "optional_services", lambda settings: [Fake("ingest", True, order)]
    )
    monkeypatch.setenv("TILLFLOW_HOME", str(tmp_path))
    assert manager.down(Settings.from_env(), ["postgres"], echo=lambda line: None) == ["postgres"]
