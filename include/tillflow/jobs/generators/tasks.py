"""What the generator DAGs run: plain arguments in, a JSON-able summary out (no Airflow here)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tillflow import config
from tillflow.config import KafkaConnection
from tillflow.domain.generation import DEFAULT_SEED
from tillflow.jobs.generators.scans import RunStats


def _log_progress(label: str, every_s: float = 10.0) -> Any:
    last = [0.0]

    def show(stats: RunStats) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            print(f"{label}: {stats.events:,} events, {stats.rate:,.0f}/s", flush=True)

    return show


def bootstrap_oltp(dsn: str, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """OLTP migrations and the seeded reference data (once)."""
    from tillflow.jobs.generators import reference_load

    applied, results = reference_load.bootstrap_oltp(dsn, seed)
    return {
        "migrations_applied": applied,
        "tables": {r.table: {"inserted": r.loaded, "rows": r.present} for r in results},
    }


def create_topics(connection: KafkaConnection) -> dict[str, Any]:
    from tillflow.jobs.generators.bootstrap import ensure_platform_topics, platform_topics

    created = ensure_platform_topics(connection)
    return {"created": created, "topics": platform_topics()}


def generate_window(
    connection: KafkaConnection,
    start: datetime,
    end: datetime,
    seed: int = DEFAULT_SEED,
    stores: int | None = None,
    bad_share: float = 0.0,
    topic: str = config.TOPICS.scans,
) -> dict[str, Any]:
    """The scans of ``[start, end)`` into ``topic``, as fast as possible."""
    from tillflow.domain.generation.model import Catalog
    from tillflow.jobs.generators.scans import KafkaSink, run_history

    catalog = Catalog.from_seed(seed, stores)
    stats = run_history(
        catalog,
        seed,
        start,
        end,
        KafkaSink(connection, topic),
        bad_share=bad_share,
        progress=_log_progress("history"),
    )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "stores": int(catalog.store_ids.size),
        "topic": topic,
        **stats.as_dict(),
    }


def generate_live(
    connection: KafkaConnection,
    duration_s: float,
    speedup: float = 1.0,
    max_rate: float | None = None,
    start: datetime | None = None,
    seed: int = DEFAULT_SEED,
    stores: int | None = None,
    bad_share: float = 0.0,
    topic: str = config.TOPICS.scans,
) -> dict[str, Any]:
    """A live window: scans released on the (sped-up) wall clock for ``duration_s`` seconds."""
    from tillflow.domain.generation.model import Catalog
    from tillflow.jobs.generators.scans import KafkaSink, run_live

    begin = start or datetime.now(UTC)
    catalog = Catalog.from_seed(seed, stores)
    stats = run_live(
        catalog,
        seed,
        KafkaSink(connection, topic),
        begin,
        duration_s,
        speedup=speedup,
        max_rate=max_rate,
        bad_share=bad_share,
        progress=_log_progress("live"),
    )
    return {"start": begin.isoformat(), "speedup": speedup, "topic": topic, **stats.as_dict()}


def churn(dsn: str, at: datetime, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    from tillflow.jobs.generators import churn as item_churn

    return [r.as_dict() for r in item_churn.churn(dsn, at, seed)]


def parse_instant(value: Any) -> datetime | None:
    """A param that may be empty, an ISO string or a datetime -> an aware UTC datetime or None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):  # also pendulum's DateTime: made a plain datetime below
        moment = datetime.fromtimestamp(value.timestamp(), UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
