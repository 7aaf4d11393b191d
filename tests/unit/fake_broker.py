"""A broker service for the broker keeper's unit tests: this test's own process stands in for
it (its pid is alive, its RSS is real, read from /proc)."""

from __future__ import annotations

import os


class Broker:
    external = False

    def pid(self) -> int | None:
        return os.getpid()
