"""Bootstrap of the platform's sources: OLTP schema, reference data, Kafka topics."""

from __future__ import annotations

from typing import Final

from tillflow import config
from tillflow.adapters import kafka

#: OLTP tables whose changes CDC publishes to ``config.TOPICS.cdc(table)``.
CDC_TABLES: Final = ("item_categories", "stores", "item_master", "customers", "payment_methods")
#: Partitions of the scan topic (keyed by store): enough for the two-core machine's consumers.
SCAN_PARTITIONS: Final = 4


def platform_topics(topics: config.Topics = config.TOPICS) -> dict[str, int]:
    """Every topic the platform uses, with its partition count.

    The change topics and the order events have one partition: each keeps one total order.
    """
    wanted = {
        topics.scans: SCAN_PARTITIONS,
        topics.orders: 1,
        topics.suggestions_accepted: 1,
    }
    wanted.update({topics.cdc(table): 1 for table in CDC_TABLES})
    return wanted


def ensure_platform_topics(bootstrap: str) -> list[str]:
    """Create the platform's topics that are missing; return those created."""
    return kafka.ensure_topics(bootstrap, platform_topics())
