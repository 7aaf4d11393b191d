"""Parse Debezium change events (JSON, with or without the schema wrapper) → ``raw.cdc_changes``.

One row per change: op (c insert, u update, d delete, r snapshot read, t tombstone), the before and
after images, the source LSN and commit time. A tombstone (null value after a delete) is kept as
op ``t`` with its key, so every consumed record lands somewhere.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from tillflow.domain.events.records import (
    KAFKA_COORDINATE_COLUMNS,
    MAX_PAYLOAD_BYTES,
    Parsed,
    decode_utf8,
    loads_strict,
    raw_schema,
    rows_to_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

TABLE = "raw.cdc_changes"
OPS = {"c", "u", "d", "r"}
#: the image an op must carry
REQUIRED_IMAGE = {"c": "after", "r": "after", "u": "after", "d": "before"}
COLUMNS = (
    "source_table",
    "op",
    "before",
    "after",
    "source_lsn",
    "source_ts",
    "record_key",
    *KAFKA_COORDINATE_COLUMNS,
)


def output_schema() -> pa.Schema:
    import pyarrow as pa

    return raw_schema(
        [
            ("source_table", pa.string()),
            ("op", pa.string()),
            ("before", pa.string()),
            ("after", pa.string()),
            ("source_lsn", pa.int64()),
            ("source_ts", pa.timestamp("us", tz="UTC")),
            ("record_key", pa.string()),
        ]
    )


def table_from_topic(topic: str) -> str:
    """``oltp.public.item_master`` -> ``item_master``."""
    return topic.rsplit(".", 1)[-1]


def unwrap(obj: Any) -> Any:
    """Drop the JsonConverter schema wrapper ``{"schema": ..., "payload": ...}`` if present."""
    if isinstance(obj, dict) and set(obj) == {"schema", "payload"}:
        return obj["payload"]
    return obj


def _key_json(key: bytes | None) -> str | None:
    if key is None:
        return None
    text, _ = decode_utf8(key)
    if text is None:
        return json.dumps({"key_hex": key.hex()})
    obj, err = loads_strict(text)
    return json.dumps(unwrap(obj)) if err is None else json.dumps({"key": text})


def validate_record(
    topic: str, key: bytes | None, payload: bytes | None
) -> tuple[tuple[Any, ...] | None, str | None]:
    """One record -> (source_table, op, before, after, lsn, ts, key) or (None, reason)."""
    if payload is None:
        return (table_from_topic(topic), "t", None, None, None, None, _key_json(key)), None
    if len(payload) == 0:
        return None, "empty payload"
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None, f"oversized payload: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}"
    text, err = decode_utf8(payload)
    if text is None:
        return None, err
    obj, err = loads_strict(text)
    if err:
        return None, err
    obj = unwrap(obj)
    if not isinstance(obj, dict):
        return None, f"not a JSON object: {type(obj).__name__}"
    op = obj.get("op")
    if op not in OPS:
        return None, f"op: expected one of c, u, d, r, got {op!r}"
    for image in ("before", "after"):
        if obj.get(image) is not None and not isinstance(obj[image], dict):
            return None, f"{image}: expected an object or null"
    needed = REQUIRED_IMAGE[op]
    if not isinstance(obj.get(needed), dict):
        return None, f"op {op} without a {needed} image"
    source = obj.get("source")
    if not isinstance(source, dict):
        return None, "source: missing or not an object"
    lsn = source.get("lsn")
    if lsn is not None and (isinstance(lsn, bool) or not isinstance(lsn, int)):
        return None, f"source.lsn: expected an integer, got {type(lsn).__name__}"
    ts_ms = source.get("ts_ms", obj.get("ts_ms"))
    if ts_ms is None or isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
        return None, "source.ts_ms: missing or not an integer"
    try:
        ts = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None, f"source.ts_ms out of range: {ts_ms}"
    table = source.get("table") or table_from_topic(topic)
    if not isinstance(table, str):
        return None, "source.table: expected a string"
    before = json.dumps(obj["before"]) if obj.get("before") is not None else None
    after = json.dumps(obj["after"]) if obj.get("after") is not None else None
    return (table, op, before, after, lsn, ts, _key_json(key)), None


def parse(batch: pa.RecordBatch | pa.Table) -> Parsed:
    keys, values, topics, partitions, offsets = (
        batch.column(c).to_pylist() for c in ("key", "value", "topic", "partition", "offset")
    )
    out = Parsed()
    rows: list[tuple[Any, ...]] = []
    for key, value, topic, part, offset in zip(
        keys, values, topics, partitions, offsets, strict=True
    ):
        row, err = validate_record(topic, key, value)
        if row is None:
            out.dead.append((topic, part, offset, key, value, err or "invalid"))
        else:
            rows.append((*row, topic, part, offset))
    out.tables[TABLE] = rows_to_table(rows, output_schema())
    return out
