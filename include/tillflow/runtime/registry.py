"""The platform's own long-running processes managed by the local stack (after the core services).

Each entry is a factory ``Settings -> Service``; `tillflow up` starts them in this order.
"""

from __future__ import annotations

from collections.abc import Callable

from tillflow.config import Settings
from tillflow.runtime.managed.cdc import cdc
from tillflow.runtime.managed.orders_api import orders_api
from tillflow.runtime.managed.suggestions import SuggestionService
from tillflow.runtime.services import Service

APP_SERVICES: list[Callable[[Settings], Service]] = [
    orders_api,  # Engineer B: the orders API (127.0.0.1:8000)
    cdc,  # Engineer B: Debezium CDC of the OLTP database into Kafka
    SuggestionService,  # Engineer E: real-time product suggestions (heartbeat, no port)
]


def app_services(settings: Settings) -> list[Service]:
    return [factory(settings) for factory in APP_SERVICES]
