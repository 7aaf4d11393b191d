"""Each Kafka client of the platform gets exactly the configuration it was tuned with (the values
measured on this broker; kafka_profiles says why each is what it is)."""

from __future__ import annotations

from typing import Any

import pytest

from tillflow.adapters import kafka
from tillflow.adapters import kafka_profiles as profiles
from tillflow.config import KafkaConnection

pytestmark = pytest.mark.unit

BOOTSTRAP = "broker:9092"
CONNECTION = KafkaConnection(BOOTSTRAP)

#: The broker tuning of every group consumer.
BROKER = {
    "enable.auto.commit": False,
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "fetch.wait.max.ms": 10,
}
#: Assign-only readers: no group, no commits, the deep prefetch.
RANGE = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "fetch.wait.max.ms": 100,
    "queued.min.messages": 1_000_000,
    "queued.max.messages.kbytes": 1_048_576,
}
BULK = {
    **RANGE,
    "fetch.wait.max.ms": 10,  # raised by the Spark source when its fetches stall
    "fetch.max.bytes": 52_428_800,
    "max.partition.fetch.bytes": 10_485_760,
    "socket.nagle.disable": True,
}
PRODUCER = {
    "bootstrap.servers": BOOTSTRAP,
    "acks": "all",
    "enable.idempotence": False,
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1_000_000,
}


def reader_config(profile: profiles.Profile) -> dict[str, Any]:
    return profiles.client_config(CONNECTION, profile)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        pytest.param(
            kafka.consumer_config(CONNECTION, "g"),
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": "g",
                "auto.offset.reset": "earliest",
                **BROKER,
            },
            id="group consumer (smoke, Airflow's kafka_default extra)",
        ),
        pytest.param(
            kafka.consumer_config(CONNECTION, "g", profiles.LOW_LATENCY_CONSUMER),
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": "g",
                "auto.offset.reset": "earliest",
                **BROKER,
                "fetch.wait.max.ms": 2,
                "fetch.error.backoff.ms": 50,
            },
            id="low-latency consumer (suggestion services)",
        ),
        pytest.param(
            kafka.consumer_config(CONNECTION, "g-cache", profiles.CACHE_FEED_CONSUMER),
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": "g-cache",
                "auto.offset.reset": "earliest",
                **BROKER,
                "fetch.wait.max.ms": 100,
                "fetch.error.backoff.ms": 50,
            },
            id="cache feed consumer (the suggestion service's CDC reader)",
        ),
        pytest.param(
            kafka.consumer_config(CONNECTION, "g", profiles.PARKED_CONSUMER),
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": "g",
                "auto.offset.reset": "earliest",
                **BROKER,
                "fetch.wait.max.ms": 500,
                "fetch.error.backoff.ms": 50,
            },
            id="parked consumer (either suggestion consumer while idle)",
        ),
        pytest.param(
            reader_config(profiles.RANGE_READER),
            {"bootstrap.servers": BOOTSTRAP, "group.id": "tillflow-plain-ingest", **RANGE},
            id="range reader (plain ingestion)",
        ),
        pytest.param(
            reader_config(profiles.BULK_READER),
            {"bootstrap.servers": BOOTSTRAP, "group.id": "tillflow-spark-source", **BULK},
            id="bulk range reader (Spark source, executors)",
        ),
        pytest.param(
            reader_config(profiles.TAIL_READER),
            {
                "bootstrap.servers": BOOTSTRAP,
                **BULK,
                "group.id": "tillflow-spark-tail",
                "queued.min.messages": 400_000,
                "queued.max.messages.kbytes": 262_144,
            },
            id="tail reader (Spark tail engine)",
        ),
        pytest.param(
            reader_config(profiles.TAIL_WATCHER),
            {
                "bootstrap.servers": BOOTSTRAP,
                **BULK,
                "fetch.wait.max.ms": 10,
                "group.id": "tillflow-spark-watcher",
                "queued.min.messages": 10_000_000,
                "queued.max.messages.kbytes": 2_097_151,
            },
            id="tail watcher (Spark source, high watermarks)",
        ),
        pytest.param(
            reader_config(profiles.WATERMARK_READER),
            {
                "bootstrap.servers": BOOTSTRAP,
                "group.id": "tillflow-demo-counts",
                "fetch.wait.max.ms": 10,
            },
            id="watermark reader (demo topic counts)",
        ),
        pytest.param(kafka.producer_config(CONNECTION), PRODUCER, id="producer"),
        pytest.param(
            kafka.producer_config(CONNECTION, profiles.LOW_LATENCY_PRODUCER),
            {**PRODUCER, "linger.ms": 0},
            id="low-latency producer (suggestions, sensor)",
        ),
        pytest.param(
            kafka.producer_config(CONNECTION, **{"linger.ms": 1}),
            {**PRODUCER, "linger.ms": 1},
            id="producer with an override (CDC)",
        ),
        pytest.param(
            reader_config(profiles.ADMIN), {"bootstrap.servers": BOOTSTRAP}, id="admin client"
        ),
    ],
)
def test_each_client_gets_the_configuration_it_was_tuned_with(
    built: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert built == expected
