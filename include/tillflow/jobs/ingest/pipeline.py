"""Route Kafka record batches to their parser by topic, and land them through the sink.

The same function runs inside Spark (``mapInArrow``), behind the native ``kafka`` format, and in
the plain-Python consumer, so the engines differ only in how records reach it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tillflow import config
from tillflow.domain.events import changes as cdc
from tillflow.domain.events import orders, scans
from tillflow.domain.events.records import Parsed, TimeWindow

if TYPE_CHECKING:
    import pyarrow as pa

    from tillflow.jobs.ingest.sink import Sink

KINDS = ("scans", "cdc", "orders")


def kind_of(topic: str, overrides: Mapping[str, str] | None = None) -> str:
    """Which parser a topic needs: an explicit override, else by the platform's topic names."""
    if overrides and topic in overrides:
        kind = overrides[topic]
    elif topic == config.TOPICS.scans or topic.startswith(("test.scans", "pos.scans")):
        kind = "scans"
    elif topic == config.TOPICS.orders or topic.endswith(".order_events"):
        kind = "orders"
    elif topic.startswith(config.TOPICS.cdc_prefix + ".") or topic.startswith("test.cdc"):
        kind = "cdc"
    else:
        raise ValueError(
            f"no parser for topic {topic!r}: name it as topic:KIND ({', '.join(KINDS)})"
        )
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} for topic {topic!r}")
    return kind


def parse(kind: str, batch: pa.Table, window: TimeWindow) -> Parsed:
    if kind == "scans":
        return scans.parse(batch, window)
    if kind == "cdc":
        return cdc.parse(batch)
    if kind == "orders":
        return orders.parse(batch, window)
    raise ValueError(f"unknown kind {kind!r}")


def merge(parts: list[Parsed]) -> Parsed:
    import pyarrow as pa

    if len(parts) == 1:
        return parts[0]
    out = Parsed()
    for part in parts:
        out.dead.extend(part.dead)
        for name, table in part.tables.items():
            out.tables[name] = (
                pa.concat_tables([out.tables[name], table]) if name in out.tables else table
            )
    return out


def parse_records(
    records: pa.Table, window: TimeWindow, overrides: Mapping[str, str] | None = None
) -> Parsed:
    """Parse a Kafka record table that may hold several topics."""
    import pyarrow.compute as pc

    topics = pc.unique(records.column("topic")).to_pylist()
    parts: list[Parsed] = []
    for topic in topics:
        sub = (
            records
            if len(topics) == 1
            else records.filter(pc.equal(records.column("topic"), topic))
        )
        parts.append(parse(kind_of(str(topic), overrides), sub, window))
    return merge(parts) if parts else Parsed()


def ends_of(records: pa.Table) -> dict[tuple[str, int], int]:
    """One past the highest offset per (topic, partition)."""
    if records.num_rows == 0:
        return {}
    grouped = records.group_by(["topic", "partition"]).aggregate([("offset", "max")])
    return {
        (str(t), int(p)): int(m) + 1
        for t, p, m in zip(
            grouped.column("topic").to_pylist(),
            grouped.column("partition").to_pylist(),
            grouped.column("offset_max").to_pylist(),
            strict=True,
        )
    }


@dataclass(frozen=True)
class ChunkSummary:
    records: int
    landed: int
    dead_letters: int
    skipped: int
    parse_seconds: float
    land_seconds: float
    ends: dict[tuple[str, int], int]


def process(
    sink: Sink,
    records: pa.Table,
    window: TimeWindow,
    overrides: Mapping[str, str] | None = None,
) -> ChunkSummary:
    """Parse and land one chunk of Kafka records (one transaction)."""
    t0 = time.perf_counter()
    parsed = parse_records(records, window, overrides)
    t1 = time.perf_counter()
    ends = ends_of(records)
    result = sink.land(parsed, ends)
    t2 = time.perf_counter()
    return ChunkSummary(
        records=records.num_rows,
        landed=result.landed,
        dead_letters=result.dead_letters,
        skipped=result.skipped,
        parse_seconds=t1 - t0,
        land_seconds=t2 - t1,
        ends=ends,
    )
