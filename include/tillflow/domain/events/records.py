"""Kafka record batches as Arrow, dead letters, and the result of parsing one batch.

A record batch has the columns of Spark's native ``kafka`` source (``key, value, topic, partition,
offset, timestamp, timestampType``), so the same parsing runs behind the Python data source, the
native connector and the plain-Python consumer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: Spark's DDL for a Kafka record (what ``DataSource.schema()`` returns).
KAFKA_SPARK_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, "
    "timestamp timestamp, timestampType int"
)

#: The payload limit of any record (a scan is ~190 bytes; an order event a few KB).
MAX_PAYLOAD_BYTES = 64 * 1024

#: RFC 3339 date-time (JSON Schema ``format: date-time``): a T, seconds, an explicit offset.
RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
RFC3339_RE = re.compile(RFC3339)

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


#: The Kafka coordinates every raw table and dead letter keeps: the sink's idempotency key.
KAFKA_COORDINATE_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset")


def kafka_coordinate_fields() -> list[tuple[str, pa.DataType]]:
    import pyarrow as pa

    return [
        ("kafka_topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
    ]


def raw_schema(fields: Sequence[tuple[str, pa.DataType]]) -> pa.Schema:
    """A raw table's Arrow schema: its own columns, then the Kafka coordinates."""
    import pyarrow as pa

    return pa.schema([*fields, *kafka_coordinate_fields()])


def kafka_arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("key", pa.binary()),
            ("value", pa.binary()),
            ("topic", pa.string()),
            ("partition", pa.int32()),
            ("offset", pa.int64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("timestampType", pa.int32()),
        ]
    )


def dead_letter_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            *kafka_coordinate_fields(),
            ("kafka_key", pa.binary()),
            ("payload", pa.binary()),
            ("error", pa.string()),
        ]
    )


@dataclass(frozen=True)
class TimeWindow:
    """Event timestamps outside ``[now - max_age, now + max_future]`` are dead letters."""

    now: dt.datetime
    max_age: dt.timedelta = dt.timedelta(days=400)
    max_future: dt.timedelta = dt.timedelta(minutes=5)

    @classmethod
    def current(cls, max_age_days: float = 400.0, max_future_minutes: float = 5.0) -> TimeWindow:
        return cls(
            dt.datetime.now(dt.UTC),
            dt.timedelta(days=max_age_days),
            dt.timedelta(minutes=max_future_minutes),
        )

    @property
    def earliest(self) -> dt.datetime:
        return self.now - self.max_age

    @property
    def latest(self) -> dt.datetime:
        return self.now + self.max_future

    def check(self, name: str, value: dt.datetime) -> str | None:
        if value < self.earliest:
            return f"{name} too far in the past: {value.isoformat()} < {self.earliest.isoformat()}"
        if value > self.latest:
            return f"{name} in the future: {value.isoformat()} > {self.latest.isoformat()}"
        return None


def parse_rfc3339(name: str, value: Any) -> tuple[dt.datetime | None, str | None]:
    """A timezone-aware UTC datetime from an RFC 3339 string, or the reason it is not one."""
    if not isinstance(value, str):
        return None, f"{name}: expected an RFC 3339 date-time string, got {type(value).__name__}"
    if not RFC3339_RE.match(value):
        return None, f"{name}: not an RFC 3339 date-time: {value[:40]!r}"
    text = value.replace("Z", "+00:00")
    # Python < 3.11 parsing quirks aside, fromisoformat takes at most 6 fractional digits.
    main, _, rest = text.partition(".")
    if rest:
        digits = re.match(r"\d+", rest)
        frac = digits.group(0) if digits else ""
        text = f"{main}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        return None, f"{name}: invalid date-time {value[:40]!r} ({exc})"
    return parsed.astimezone(dt.UTC), None


def decode_utf8(payload: bytes) -> tuple[str | None, str | None]:
    try:
        return payload.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"


def loads_strict(text: str) -> tuple[Any, str | None]:
    """Parse JSON rejecting NaN/Infinity and duplicate keys (both are not JSON or ambiguous)."""
    import json

    def no_constants(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate field {key!r}")
            out[key] = value
        return out

    try:
        return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates), None
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    except ValueError as exc:
        return None, f"malformed JSON: {exc}"


def check_int(obj: dict[str, Any], name: str, lo: int, hi: int) -> tuple[int | None, str | None]:
    value = obj.get(name)
    if value is None:
        return None, f"{name}: missing or null"
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"{name}: expected an integer, got {type(value).__name__}"
    if not lo <= value <= hi:
        return None, f"{name} out of range {lo}..{hi}: {value}"
    return value, None


@dataclass
class Parsed:
    """The outcome of parsing one record batch: rows per raw table, and the dead letters."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    dead: list[tuple[str, int, int, bytes | None, bytes | None, str]] = field(default_factory=list)
    dead_table: pa.Table | None = None

    def dead_letters(self) -> pa.Table:
        import pyarrow as pa

        rows = self.dead
        fresh = pa.table(
            {
                "kafka_topic": pa.array([r[0] for r in rows], pa.string()),
                "kafka_partition": pa.array([r[1] for r in rows], pa.int32()),
                "kafka_offset": pa.array([r[2] for r in rows], pa.int64()),
                "kafka_key": pa.array([r[3] for r in rows], pa.binary()),
                "payload": pa.array([r[4] for r in rows], pa.binary()),
                "error": pa.array([r[5] for r in rows], pa.string()),
            },
            schema=dead_letter_schema(),
        )
        if self.dead_table is None or self.dead_table.num_rows == 0:
            return fresh
        return pa.concat_tables([self.dead_table, fresh])

    @property
    def dead_count(self) -> int:
        extra = 0 if self.dead_table is None else self.dead_table.num_rows
        return len(self.dead) + extra

    def row_count(self, table: str) -> int:
        t = self.tables.get(table)
        return 0 if t is None else t.num_rows


def column_lists(batch: pa.RecordBatch | pa.Table) -> tuple[Sequence[Any], ...]:
    """(key, value, topic, partition, offset) as Python lists (for per-record parsers)."""
    return tuple(batch.column(name).to_pylist() for name in KAFKA_COORDS)


KAFKA_COORDS = ("key", "value", "topic", "partition", "offset")


def rows_to_table(rows: Sequence[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Row tuples (in schema order) -> an Arrow table of that schema."""
    import pyarrow as pa

    columns: list[list[Any]] = [[] for _ in schema]
    for row in rows:
        for i, value in enumerate(row):
            columns[i].append(value)
    return pa.table(
        {f.name: pa.array(c, f.type) for f, c in zip(schema, columns, strict=True)}, schema=schema
    )
