"""Airflow glue of the suggestion DAG: connection ids in, the domain package's functions called.

``qualifying_order`` is the sensor's ``apply_function`` (a dotted path the triggerer imports);
``on_qualifying_order`` is its ``event_triggered_function`` (runs in the worker on each event).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from airflow.providers.apache.kafka.sensors.kafka import AwaitMessageTriggerFunctionSensor
from airflow.providers.apache.kafka.triggers.await_message import AwaitMessageTrigger
from airflow.triggers.base import TriggerEvent

from tillflow import config
from tillflow.jobs.suggestions.cache import DEFAULT_PREFIX

#: Dotted path of the apply function, for the sensor.
APPLY_FUNCTION = "tillflow_airflow.suggestions.qualifying_order"


def qualifying_order(
    message: Any,
    redis_conn_id: str = config.CONN_REDIS,
    oltp_conn_id: str = config.CONN_OLTP,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any] | None:
    """Runs in the triggerer for every message: the suggestion of a qualifying order, or None."""
    from tillflow.jobs.suggestions import sensor
    from tillflow_airflow.connections import postgres_dsn, redis_address

    host, port = redis_address(redis_conn_id)
    return sensor.qualifying_order(
        message, redis_host=host, redis_port=port, oltp_dsn=postgres_dsn(oltp_conn_id),
        prefix=prefix,
    )  # fmt: skip


def on_qualifying_order(event: dict[str, Any], **context: Any) -> None:
    """Runs in the worker when the sensor resumes: store + publish (at most once per order)."""
    from tillflow.jobs.suggestions import sensor
    from tillflow_airflow.connections import kafka_connection, postgres_dsn

    result = sensor.apply_suggestion(
        event,
        oltp_dsn=postgres_dsn(config.CONN_OLTP),
        connection=kafka_connection(config.CONN_KAFKA),
        topic=context["params"].get("suggestions_topic") or config.TOPICS.suggestions_accepted,
    )
    logging.getLogger("airflow.task").info(
        "order %(order_id)s: %(outcome)s, product %(product_id)s at -%(discount_percent)s%%",
        result,
    )


IDLE_EVENT = {"idle": True}


class IdleAwareMessageTrigger(AwaitMessageTrigger):
    """``AwaitMessageTrigger`` that also fires ``IDLE_EVENT`` after ``idle_seconds`` without a
    matching message (so the sensor can end cleanly, also under `airflow dags test`, which does
    not enforce deferral timeouts)."""

    def __init__(self, *, idle_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idle_seconds = idle_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.IdleAwareMessageTrigger", {**kwargs, "idle_seconds": self.idle_seconds}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        events = super().run()
        try:
            event = await asyncio.wait_for(anext(events), timeout=self.idle_seconds)
        except TimeoutError:
            event = TriggerEvent(IDLE_EVENT)
        finally:
            await events.aclose()
        yield event


class QualifyingOrderSensor(AwaitMessageTriggerFunctionSensor):
    """The provider's sensor, deferring on ``IdleAwareMessageTrigger``: each qualifying order
    resumes it (``event_triggered_function`` runs, then it defers again); after
    ``params.idle_seconds`` without one it succeeds. ``timeout`` stays a safety net."""

    def _defer(self, context: Any) -> None:
        self.defer(
            trigger=IdleAwareMessageTrigger(
                idle_seconds=float(context["params"].get("idle_seconds") or 300),
                topics=self.topics,
                apply_function=self.apply_function,
                apply_function_args=self.apply_function_args,
                apply_function_kwargs=self.apply_function_kwargs,
                kafka_config_id=self.kafka_config_id,
                poll_timeout=self.poll_timeout,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute(self, context: Any, event: Any = None) -> Any:
        self._defer(context)

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        if event == IDLE_EVENT:
            logging.getLogger("airflow.task").info("idle: no qualifying order; done")
            return None
        self.event_triggered_function(event, **context)
        self._defer(context)
