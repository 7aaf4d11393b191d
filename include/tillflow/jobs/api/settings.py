"""Where the orders API listens. Read from the environment here (config.py is the lead's):

- ``TILLFLOW_API_HOST`` (default 127.0.0.1), ``TILLFLOW_API_PORT`` (default 8000);
- ``TILLFLOW_API_EXTERNAL=1``: an API already runs at that address; the stack does not start one;
- ``TILLFLOW_API_POOL_MAX`` (default 8): the most PostgreSQL connections the API holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


@dataclass(frozen=True)
class ApiSettings:
    host: str
    port: int
    external: bool
    pool_max: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls) -> ApiSettings:
        raw_port = _env("TILLFLOW_API_PORT", "8000")
        raw_pool = _env("TILLFLOW_API_POOL_MAX", "8")
        try:
            port, pool_max = int(raw_port), int(raw_pool)
        except ValueError as exc:
            raise ValueError(
                f"TILLFLOW_API_PORT and TILLFLOW_API_POOL_MAX must be integers, "
                f"got {raw_port!r} and {raw_pool!r}"
            ) from exc
        return cls(
            host=_env("TILLFLOW_API_HOST", "127.0.0.1"),
            port=port,
            external=_env("TILLFLOW_API_EXTERNAL", "0").lower() in {"1", "true", "yes", "on"},
            pool_max=pool_max,
        )
