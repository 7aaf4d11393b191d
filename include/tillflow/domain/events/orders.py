"""Parse order events from the OLTP outbox (``oltp.public.order_events``) → raw.orders + order_lines.

The record is a Debezium envelope of the outbox row; its ``after.payload`` is the event as a JSON
string (Debezium renders jsonb as a string). One event = one whole order (or the lines a suggestion
added): it lands whole or goes to the dead letters whole. Outbox updates, deletes and tombstones
are not order events: they land in ``raw.cdc_changes`` like any other change, so nothing vanishes.
"""

from __future__ import annotations

import decimal
import json
from typing import TYPE_CHECKING, Any

from tillflow.domain.events import changes as cdc
from tillflow.domain.events.records import (
    KAFKA_COORDINATE_COLUMNS,
    MAX_PAYLOAD_BYTES,
    Parsed,
    TimeWindow,
    check_int,
    decode_utf8,
    loads_strict,
    parse_rfc3339,
    raw_schema,
    rows_to_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

ORDERS = "raw.orders"
LINES = "raw.order_lines"
EVENT_TYPES = {"order_created", "suggestion_added"}
DISCOUNT_TYPES = {"none", "percentage", "fixed_amount"}
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_LINES = 500
MAX_LINE_QUANTITY = 10_000
#: raw.order_lines keeps unit_price as numeric(10, 2) and discount_value as numeric(12, 4), the
#: OLTP's scales (a fixed-amount discount is stored in thousands). A value with more decimals is a
#: dead letter with that reason; nothing is rounded silently.
MAX_MONEY = decimal.Decimal("99999999.99")
MAX_DISCOUNT = decimal.Decimal("99999999.9999")
PAYLOAD_FIELDS = {
    "schema_version",
    "event_type",
    "order_id",
    "customer_id",
    "payment_method_id",
    "store_id",
    "ordered_at",
    "lines",
}
LINE_FIELDS = {
    "line_no",
    "product_id",
    "quantity",
    "unit_price",
    "discount_type",
    "discount_value",
    "is_suggestion",
}
ORDER_COLUMNS = (
    "event_id",
    "event_type",
    "order_id",
    "customer_id",
    "payment_method_id",
    "store_id",
    "ordered_at",
    *KAFKA_COORDINATE_COLUMNS,
)
LINE_COLUMNS = (
    "event_id",
    "order_id",
    "line_no",
    "product_id",
    "quantity",
    "unit_price",
    "discount_type",
    "discount_value",
    "is_suggestion",
    *KAFKA_COORDINATE_COLUMNS,
)


def orders_schema() -> pa.Schema:
    import pyarrow as pa

    return raw_schema(
        [
            ("event_id", pa.int64()),
            ("event_type", pa.string()),
            ("order_id", pa.int64()),
            ("customer_id", pa.int32()),
            ("payment_method_id", pa.int32()),
            ("store_id", pa.int32()),
            ("ordered_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def lines_schema() -> pa.Schema:
    import pyarrow as pa

    return raw_schema(
        [
            ("event_id", pa.int64()),
            ("order_id", pa.int64()),
            ("line_no", pa.int32()),
            ("product_id", pa.int32()),
            ("quantity", pa.int32()),
            ("unit_price", pa.decimal128(10, 2)),
            ("discount_type", pa.string()),
            ("discount_value", pa.decimal128(12, 4)),
            ("is_suggestion", pa.bool_()),
        ]
    )


def _money(
    name: str, value: Any, places: int = 2, limit: decimal.Decimal = MAX_MONEY
) -> tuple[decimal.Decimal | None, str | None]:
    if not isinstance(value, str):
        return None, f"{name}: expected a decimal string, got {type(value).__name__}"
    try:
        amount = decimal.Decimal(value)
    except decimal.InvalidOperation:
        return None, f"{name}: not a decimal: {value[:30]!r}"
    if not amount.is_finite() or amount < 0 or amount > limit:
        return None, f"{name} out of range 0..{limit}: {value[:30]!r}"
    quantum = decimal.Decimal(1).scaleb(-places)
    if amount != amount.quantize(quantum):
        return None, f"{name}: more than {places} decimal places: {value[:30]!r}"
    return amount.quantize(quantum), None


def validate_payload(
    event: Any, window: TimeWindow
) -> tuple[tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None, str | None]:
    """The event payload -> ((order fields), [line fields]) or (None, reason)."""
    if not isinstance(event, dict):
        return None, f"payload: not a JSON object: {type(event).__name__}"
    extra = sorted(set(event) - PAYLOAD_FIELDS)
    if extra:
        return None, f"payload: unexpected field(s): {', '.join(extra)[:200]}"
    missing = sorted(f for f in PAYLOAD_FIELDS if event.get(f) is None)
    if missing:
        return None, f"payload: missing or null field(s): {', '.join(missing)}"
    version = event["schema_version"]
    if isinstance(version, bool) or version != 1 or not isinstance(version, int):
        return None, f"unsupported schema_version: {version!r}"
    if event["event_type"] not in EVENT_TYPES:
        return None, f"event_type: unknown {str(event['event_type'])[:40]!r}"
    ids: dict[str, int] = {}
    for name, hi in (
        ("order_id", INT64_MAX),
        ("customer_id", INT32_MAX),
        ("payment_method_id", INT32_MAX),
    ):
        value, err = check_int(event, name, 1, hi)
        if err:
            return None, err
        assert value is not None
        ids[name] = value
    store, err = check_int(event, "store_id", 1, 1000)
    if err:
        return None, err
    ordered_at, err = parse_rfc3339("ordered_at", event["ordered_at"])
    if err:
        return None, err
    assert ordered_at is not None
    err = window.check("ordered_at", ordered_at)
    if err:
        return None, err
    lines = event["lines"]
    if not isinstance(lines, list) or not lines:
        return None, "lines: expected a non-empty array"
    if len(lines) > MAX_LINES:
        return None, f"lines: more than {MAX_LINES}"
    out_lines: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if not isinstance(line, dict):
            return None, f"{where}: not an object"
        extra = sorted(set(line) - LINE_FIELDS)
        if extra:
            return None, f"{where}: unexpected field(s): {', '.join(extra)[:200]}"
        missing = sorted(f for f in LINE_FIELDS if line.get(f) is None)
        if missing:
            return None, f"{where}: missing or null field(s): {', '.join(missing)}"
        ints: dict[str, int] = {}
        for name, lo, hi in (
            ("line_no", 1, INT32_MAX),
            ("product_id", 1, INT32_MAX),
            ("quantity", 1, MAX_LINE_QUANTITY),
        ):
            value, err = check_int(line, name, lo, hi)
            if err:
                return None, f"{where}.{err}"
            assert value is not None
            ints[name] = value
        if ints["line_no"] in seen:
            return None, f"{where}: duplicate line_no {ints['line_no']}"
        seen.add(ints["line_no"])
        price, err = _money("unit_price", line["unit_price"])
        if err:
            return None, f"{where}.{err}"
        discount_value, err = _money("discount_value", line["discount_value"], 4, MAX_DISCOUNT)
        if err:
            return None, f"{where}.{err}"
        if line["discount_type"] not in DISCOUNT_TYPES:
            return None, f"{where}.discount_type: unknown {str(line['discount_type'])[:30]!r}"
        if not isinstance(line["is_suggestion"], bool):
            return None, f"{where}.is_suggestion: expected a boolean"
        out_lines.append(
            (
                ints["line_no"],
                ints["product_id"],
                ints["quantity"],
                price,
                line["discount_type"],
                discount_value,
                line["is_suggestion"],
            )
        )
    order = (
        event["event_type"],
        ids["order_id"],
        ids["customer_id"],
        ids["payment_method_id"],
        store,
        ordered_at,
    )
    return (order, out_lines), None


def validate_record(
    payload: bytes | None, window: TimeWindow
) -> tuple[tuple[int, tuple[Any, ...], list[tuple[Any, ...]]] | None, str | None, bool]:
    """-> ((event_id, order, lines), None, False) for an order event; (None, reason, False) for a
    bad one; (None, None, True) for an outbox change that is not an event (goes to cdc_changes)."""
    if payload is None:
        return None, None, True
    if len(payload) == 0:
        return None, "empty payload", False
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None, f"oversized payload: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}", False
    text, err = decode_utf8(payload)
    if text is None:
        return None, err, False
    envelope, err = loads_strict(text)
    if err:
        return None, err, False
    envelope = cdc.unwrap(envelope)
    if not isinstance(envelope, dict):
        return None, f"not a JSON object: {type(envelope).__name__}", False
    op = envelope.get("op")
    if op in ("u", "d"):
        return None, None, True
    if op not in ("c", "r"):
        return None, f"op: expected c or r for an outbox insert, got {op!r}", False
    after = envelope.get("after")
    if not isinstance(after, dict):
        return None, "after: missing or not an object", False
    event_id, err = check_int(after, "event_id", 1, INT64_MAX)
    if err:
        return None, f"after.{err}", False
    assert event_id is not None
    raw_payload = after.get("payload")
    if isinstance(raw_payload, str):
        event, err = loads_strict(raw_payload)
        if err:
            return None, f"after.payload: {err}", False
    else:
        event = raw_payload  # a converter that renders jsonb as an object
    result, err = validate_payload(event, window)
    if err:
        return None, err, False
    assert result is not None
    order, lines = result
    if after.get("order_id") is not None and after["order_id"] != order[1]:
        return None, f"after.order_id {after['order_id']} != payload order_id {order[1]}", False
    if after.get("event_type") is not None and after["event_type"] != order[0]:
        return None, "after.event_type differs from the payload's event_type", False
    return (event_id, order, lines), None, False


def parse(batch: pa.RecordBatch | pa.Table, window: TimeWindow) -> Parsed:
    keys, values, topics, partitions, offsets = (
        batch.column(c).to_pylist() for c in ("key", "value", "topic", "partition", "offset")
    )
    out = Parsed()
    orders: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    for key, value, topic, part, offset in zip(
        keys, values, topics, partitions, offsets, strict=True
    ):
        result, err, is_change = validate_record(value, window)
        coords = (topic, part, offset)
        if is_change:
            row, err = cdc.validate_record(topic, key, value)
            if row is None:
                out.dead.append((*coords, key, value, err or "invalid"))
            else:
                changes.append((*row, *coords))
        elif result is None:
            out.dead.append((*coords, key, value, err or "invalid"))
        else:
            event_id, order, order_lines = result
            orders.append((event_id, *order, *coords))
            lines.extend((event_id, order[1], *line, *coords) for line in order_lines)
    out.tables[ORDERS] = _table(orders, orders_schema())
    out.tables[LINES] = _table(lines, lines_schema())
    out.tables[cdc.TABLE] = _table(changes, cdc.output_schema())
    return out


def _table(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    return rows_to_table(rows, schema)


def payload_json(event: dict[str, Any]) -> str:
    """An event as B's outbox renders it (for tests and the bench)."""
    return json.dumps(event, separators=(",", ":"))
