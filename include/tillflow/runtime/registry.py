"""The stack's registry: every service `tillflow up` manages, in start order (stopped in reverse).

The core services (PostgreSQL, the broker, Redis, Airflow's components) come first, then the
platform's own long-running processes, each a ``Service`` that runs a job as a child process
(``tillflow.runtime.managed``).
"""

from __future__ import annotations

from collections.abc import Callable

from tillflow.config import Settings, _env_flag
from tillflow.runtime.managed.cdc import cdc
from tillflow.runtime.managed.chain import chain, chain_planned
from tillflow.runtime.managed.ingest import ingest
from tillflow.runtime.managed.orders_api import orders_api
from tillflow.runtime.managed.suggestions import SuggestionService
from tillflow.runtime.managed.superset import superset
from tillflow.runtime.managed.supervision import supervisor
from tillflow.runtime.services import (
    AirflowComponent,
    Kafka,
    Postgres,
    PostgresOltp,
    Redis,
    Service,
)

APP_SERVICES: list[Callable[[Settings], Service]] = [
    orders_api,  # the orders API (127.0.0.1:8000)
    cdc,  # Debezium CDC of the OLTP database into Kafka
    SuggestionService,  # real-time product suggestions (heartbeat, no port)
    superset,  # the dashboards (127.0.0.1:8088)
]


def optional_services(settings: Settings) -> list[Service]:
    """The opt-in services, listed by `app_services` only while planned or asked for."""
    return [ingest(settings), chain(settings)]


def app_services(settings: Settings) -> list[Service]:
    services = [factory(settings) for factory in APP_SERVICES]
    continuous_ingest, chain_service = optional_services(settings)
    planned = chain_planned(settings)
    if planned or _env_flag("TILLFLOW_INGEST_CONTINUOUS"):
        # Opt-in: the continuous Spark job (0.5 s freshness) beside the catch-up DAG; it costs
        # a JVM and a poll every trigger while idle, so the default stack leaves it out.
        services.append(continuous_ingest)
    if planned:  # `tillflow run`: the chain drives itself until `tillflow run --stop`
        services.append(chain_service)
    return services


def all_services(settings: Settings) -> list[Service]:
    """The stack in start order (stopped in reverse)."""
    # OLTP's own server unless it is configured on the warehouse's (TILLFLOW_OLTP_PG_PORT).
    oltp = [] if settings.postgres.shared else [PostgresOltp(settings)]
    return [
        Postgres(settings),
        *oltp,
        Kafka(settings),
        Redis(settings),
        AirflowComponent(settings, "api-server", None),
        AirflowComponent(settings, "scheduler", "scheduler"),
        AirflowComponent(settings, "dag-processor", "dag_processor"),
        AirflowComponent(settings, "triggerer", "triggerer"),
        *app_services(settings),
        supervisor(settings),  # last: it restarts what `up` brought up and dies later
    ]
