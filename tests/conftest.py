"""Shared fixtures: the running local stack (started by `make test` through `tillflow up`)."""

from __future__ import annotations

import pytest

from tillflow.config import Settings
from tillflow.runtime.registry import all_services


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """The local stack, which must be up: integration tests talk to real services, never mocks."""
    down = [s.name for s in all_services(settings) if s.phase < 2 and not s.healthy()]
    if down:
        pytest.fail(f"services not running: {down}; start them with `make up`", pytrace=False)
    return settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The soak drill last: it kills and restarts the stack's services on purpose."""
    items.sort(key=lambda item: item.get_closest_marker("soak") is not None)
