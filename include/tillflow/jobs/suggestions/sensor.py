"""The Airflow variant's logic (no Airflow import): the same rule code, driven by a sensor.

``qualifying_order`` is the apply function of the DAG's deferrable Kafka sensor: it runs in the
triggerer for every message of the order topic and returns the decided suggestion (a JSON
object, which becomes the trigger event) for a qualifying order, else None (keep listening).
``apply_suggestion`` runs in the worker when the sensor resumes: it stores the suggestion through
the same at-most-once statement as the service and publishes it -- so when the service already
handled the order, it finds the claim taken and only reports it.

The caches are the service's (same Redis prefix): loaded from OLTP when cold, repaired on a miss.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tillflow.config import KafkaConnection
from tillflow.domain.suggestions.events import (
    ORDER_CREATED,
    BadEvent,
    parse_order_event,
    suggestion_from_dict,
    suggestion_to_dict,
)
from tillflow.domain.suggestions.rule import decide
from tillflow.jobs.suggestions.cache import DEFAULT_PREFIX, SuggestionCache
from tillflow.jobs.suggestions.engine import publish
from tillflow.jobs.suggestions.store import SuggestionStore

log = logging.getLogger(__name__)

#: One cache client per (host, port, dsn, prefix): the triggerer process is long-lived.
_CACHES: dict[tuple[str, int, str, str], SuggestionCache] = {}


def _cache(host: str, port: int, dsn: str, prefix: str) -> SuggestionCache:
    key = (host, port, dsn, prefix)
    if key not in _CACHES:
        _CACHES[key] = SuggestionCache.connect(host, port, dsn, prefix)
    return _CACHES[key]


def qualifying_order(
    message: Any,
    *,
    redis_host: str,
    redis_port: int,
    oltp_dsn: str,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any] | None:
    """The suggestion for a qualifying ``order_created`` message, else None."""
    try:
        parsed = parse_order_event(message.value())
    except BadEvent as exc:
        log.warning("skipping a malformed order event: %s", exc)
        return None
    if parsed is None or parsed[0] != ORDER_CREATED:
        return None
    cache = _cache(redis_host, int(redis_port), oltp_dsn, prefix)
    suggestion = decide(parsed[1], cache.facts(parsed[1]))
    if suggestion is None:
        return None
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "suggestion": suggestion_to_dict(suggestion),
    }


def apply_suggestion(
    event: dict[str, Any], *, oltp_dsn: str, connection: KafkaConnection, topic: str
) -> dict[str, Any]:
    """Store and publish the event's suggestion unless the order already has one."""
    from tillflow.adapters import kafka
    from tillflow.adapters.kafka_profiles import LOW_LATENCY_PRODUCER

    suggestion = suggestion_from_dict(event["suggestion"])
    store = SuggestionStore(oltp_dsn, source="airflow")
    try:
        stored = store.apply([suggestion])
        producer = kafka.producer(connection, LOW_LATENCY_PRODUCER)
        acked = publish(producer, topic, store, stored)
    finally:
        store.close()
    # Nothing stored: the order was already suggested (by the service, most likely) and published.
    outcome = "suggested" if stored else "already suggested"
    return {
        "order_id": suggestion.order_id,
        "product_id": suggestion.product_id,
        "discount_percent": format(suggestion.discount_value.normalize(), "f"),
        "outcome": outcome,
        "published": bool(acked),
    }


def summary_since(oltp_dsn: str, since: datetime) -> dict[str, Any]:
    """Suggestions made since ``since``, by source, with their revenue and discount."""
    import psycopg

    with psycopg.connect(oltp_dsn) as conn:
        rows = conn.execute(
            "select source, count(*), count(published_at), coalesce(sum(subtotal), 0),"
            " coalesce(sum(unit_price - subtotal), 0)"
            " from order_suggestions where suggested_at >= %s group by source order by source",
            (since,),
        ).fetchall()
    by_source = {
        str(r[0]): {
            "suggestions": int(r[1]),
            "published": int(r[2]),
            "revenue": format(r[3], "f"),
            "discount": format(r[4], "f"),
        }
        for r in rows
    }
    return {
        "since": since.isoformat(),
        "suggestions": sum(v["suggestions"] for v in by_source.values()),
        "by_source": by_source,
    }
