"""The orders API as a managed process of the local stack (`tillflow up` starts it)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from tillflow.config import Settings
from tillflow.jobs.api.settings import ApiSettings
from tillflow.runtime import process
from tillflow.runtime.services import Endpoint, Service


class OrdersApi(Service):
    """uvicorn serving ``tillflow.jobs.api`` on TILLFLOW_API_HOST:TILLFLOW_API_PORT (127.0.0.1:8000)."""

    name = "orders-api"
    phase = 3
    port_setting = "TILLFLOW_API_PORT"
    external_setting = "TILLFLOW_API_EXTERNAL"
    health_timeout = 60.0
    restart_unhealthy_after = 60.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.api = ApiSettings.from_env()

    def endpoint(self) -> Endpoint:
        return self.api

    @property
    def address(self) -> str:
        return self.api.base_url

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api.base_url}/ping", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> None:
        process.spawn(
            [
                sys.executable,
                "-m",
                "tillflow.jobs.api",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )


def orders_api(settings: Settings) -> Service:
    return OrdersApi(settings)
