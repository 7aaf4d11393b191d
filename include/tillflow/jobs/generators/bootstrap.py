"""Bootstrap of the platform's sources: OLTP schema, reference data, Kafka topics."""

from __future__ import annotations

from typing import Final

from tillflow import config
from tillflow.adapters import kafka

#: OLTP tables whose changes CDC publishes to ``config.TOPICS.cdc(table)``.
CDC_TABLES: Final = ("item_categories", "stores", "item_master", "customers", "payment_methods")


def platform_topics(
    topics: config.Topics = config.TOPICS, layout: config.TopicLayout | None = None
) -> dict[str, int]:
    """Every topic the platform uses, with its partition count.

    The scan topic (keyed by store) gets the layout's partitions (``TILLFLOW_KAFKA_PARTITIONS``,
    4 by default: enough for the two-core machine's consumers). The change topics and the order
    events have one partition: each keeps one total order.
    """
    layout = layout or config.TopicLayout.from_env()
    wanted = {
        topics.scans: layout.partitions,
        topics.orders: 1,
        topics.suggestions_accepted: 1,
    }
    wanted.update({topics.cdc(table): 1 for table in CDC_TABLES})
    return wanted


def ensure_platform_topics(
    connection: config.KafkaConnection, layout: config.TopicLayout | None = None
) -> list[str]:
    """Create the platform's topics that are missing; return those created."""
    layout = layout or config.TopicLayout.from_env()
    return kafka.ensure_topics(connection, platform_topics(layout=layout), layout)
