"""The platform's own long-running processes managed by the local stack (after the core services).

Each entry is a factory ``Settings -> Service``; `tillflow up` starts them in this order.
"""

from __future__ import annotations

from collections.abc import Callable

from tillflow.api.service import orders_api
from tillflow.cdc.service import cdc
from tillflow.config import Settings
from tillflow.stack.services import Service
from tillflow.suggestions.managed import SuggestionService

APP_SERVICES: list[Callable[[Settings], Service]] = [
    orders_api,  # Engineer B: the orders API (127.0.0.1:8000)
    cdc,  # Engineer B: Debezium CDC of the OLTP database into Kafka
    SuggestionService,  # Engineer E: real-time product suggestions (heartbeat, no port)
]


def app_services(settings: Settings) -> list[Service]:
    return [factory(settings) for factory in APP_SERVICES]
