"""
### tillflow_suggestions

The orchestrated, observable variant of the real-time product suggestions: a deferrable Kafka
sensor (`AwaitMessageTriggerFunctionSensor`) reads the order events in the triggerer and applies
the **same rule code** as the suggestion service (`tillflow.domain.suggestions.rule`, through the apply
function `tillflow_airflow.suggestions.qualifying_order`). Each qualifying order resumes the task
in a worker, which stores the suggested line (`is_suggestion = true`) with its
`suggestion_added` outbox row and publishes it to `order_suggestion_accepted` -- at most once
per order: when the service already suggested it, the claim in `order_suggestions` is taken and
nothing changes (the log says "already suggested").

Use the **service** (`tillflow up` runs it) for the millisecond path; use this DAG to watch
decisions in the Airflow UI (one log line per qualifying order), to catch up after the service
was down (the sensor's consumer group resumes from its committed offsets), or where only
Airflow runs.

- **Schedule:** manual (`make demo` triggers it); it listens until `idle_seconds` pass without a
  qualifying order, then summarises
- **Inputs:** topic `oltp.public.order_events` (connection `kafka_suggestions`: the
  `kafka_default` settings with its own `group.id`), the Redis caches
  (`redis_default`, loaded from OLTP when cold), `postgres_oltp`
- **Outputs:** order lines and outbox rows in OLTP, messages on `order_suggestion_accepted`;
  an XCom `summary` (suggestions made since the run started, by source, revenue and discount)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from tillflow import config
from tillflow_airflow.suggestions import (
    APPLY_FUNCTION,
    QualifyingOrderSensor,
    on_qualifying_order,
)

#: Its own Kafka connection: the sensor's consumer must not share a group with other DAGs' (a
#: group join on the shared `kafka_default` group hangs when another member stops polling).
KAFKA_CONN = config.CONN_KAFKA_SUGGESTIONS
CACHE_PREFIX = (
    "tillflow:sugg"  # the service's caches (tillflow.jobs.suggestions.cache.DEFAULT_PREFIX)
)
DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=10)}


@dag(
    dag_id="tillflow_suggestions",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "suggestions", "kafka"],
    doc_md=__doc__,
    params={
        "idle_seconds": Param(300, type="integer", minimum=5, maximum=86_400),
        # overridable so tests can run the DAG on their own topics and cache prefix
        "orders_topic": Param(config.TOPICS.orders, type="string"),
        "suggestions_topic": Param(config.TOPICS.suggestions_accepted, type="string"),
        "cache_prefix": Param(CACHE_PREFIX, type="string"),
        "kafka_conn_id": Param(KAFKA_CONN, type="string"),
    },
)
def tillflow_suggestions() -> None:
    @task
    def warm_caches(params: dict[str, Any]) -> str:
        """Load the Redis caches from OLTP if they are cold; return when listening began."""
        from datetime import UTC

        from tillflow.jobs.suggestions.cache import SuggestionCache
        from tillflow_airflow.connections import postgres_dsn, redis_address

        started = datetime.now(UTC).isoformat()
        host, port = redis_address(config.CONN_REDIS)
        cache = SuggestionCache.connect(
            host, port, postgres_dsn(config.CONN_OLTP), params["cache_prefix"]
        )
        try:
            stats = cache.ensure_loaded()
            print(f"caches: {'loaded ' + str(stats) if stats else 'already warm'}")
        finally:
            cache.close()
        return started

    listen = QualifyingOrderSensor(
        task_id="listen",
        topics=["{{ params.orders_topic }}"],
        apply_function=APPLY_FUNCTION,
        apply_function_kwargs={"prefix": "{{ params.cache_prefix }}"},
        event_triggered_function=on_qualifying_order,
        kafka_config_id="{{ params.kafka_conn_id }}",
        poll_timeout=1,
        poll_interval=0,  # the trigger sleeps this long after every non-qualifying message
        timeout=24 * 3600,  # a safety net: the run ends after params.idle_seconds idle
    )

    @task(trigger_rule="all_done")
    def summary(started: str) -> dict[str, Any]:
        from tillflow.jobs.suggestions.sensor import summary_since
        from tillflow_airflow.connections import postgres_dsn

        return summary_since(postgres_dsn(config.CONN_OLTP), datetime.fromisoformat(started))

    started = warm_caches()  # type: ignore[call-arg]
    started >> listen >> summary(started)


tillflow_suggestions()
