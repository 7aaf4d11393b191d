"""CDC envelopes and order events: parsed to their raw tables, or dead letters with a reason;
topic routing; the Kafka source's offset arithmetic."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from spark.kafka_source import _cap, _flat, _nest
from tillflow.domain.events import changes as cdc
from tillflow.domain.events import orders
from tillflow.domain.events.records import TimeWindow, kafka_arrow_schema
from tillflow.jobs.ingest import pipeline

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 21, 10, 0, 0, tzinfo=dt.UTC)
WINDOW = TimeWindow(NOW)


def batch(
    topic: str, values: list[bytes | None], keys: list[bytes | None] | None = None
) -> pa.Table:
    n = len(values)
    return pa.table(
        [
            pa.array(keys or [b'{"id":1}'] * n, pa.binary()),
            pa.array(values, pa.binary()),
            pa.array([topic] * n),
            pa.array([0] * n, pa.int32()),
            pa.array(range(n), pa.int64()),
            pa.array([0] * n, pa.timestamp("us", tz="UTC")),
            pa.array([0] * n, pa.int32()),
        ],
        schema=kafka_arrow_schema(),
    )


def envelope(op: str, before: Any = None, after: Any = None, **source: Any) -> bytes:
    src = {"table": "item_master", "lsn": 123456, "ts_ms": 1_763_719_200_000, **source}
    return json.dumps(
        {"before": before, "after": after, "source": src, "op": op, "ts_ms": 1}
    ).encode()


# --- CDC ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "op", "has_before", "has_after"),
    [
        (envelope("c", after={"item_id": 1, "price": "1.00"}), "c", False, True),
        (envelope("r", after={"item_id": 1}), "r", False, True),
        (
            envelope("u", before={"item_id": 1}, after={"item_id": 1, "price": "2.00"}),
            "u",
            True,
            True,
        ),
        (envelope("d", before={"item_id": 1}), "d", True, False),
        (None, "t", False, False),
    ],
)
def test_cdc_change_lands_with_op_and_images(
    value: bytes | None, op: str, has_before: bool, has_after: bool
) -> None:
    # Given one change event (or a tombstone) on a CDC topic
    parsed = cdc.parse(batch("oltp.public.item_master", [value]))
    # Then it is one raw change with its op and images
    row = parsed.tables[cdc.TABLE].to_pylist()[0]
    assert not parsed.dead
    assert row["op"] == op and row["source_table"] == "item_master"
    assert (row["before"] is not None) is has_before
    assert (row["after"] is not None) is has_after
    assert row["record_key"] == '{"id": 1}'
    if op != "t":
        assert row["source_lsn"] == 123456
        assert row["source_ts"] == dt.datetime.fromtimestamp(1_763_719_200, dt.UTC)


def test_cdc_schema_wrapper_is_unwrapped() -> None:
    # Given an envelope inside the JsonConverter's schema wrapper
    inner = json.loads(envelope("c", after={"item_id": 9}))
    value = json.dumps({"schema": {"type": "struct"}, "payload": inner}).encode()
    # Then it parses as the bare envelope
    row = cdc.parse(batch("oltp.public.stores", [value])).tables[cdc.TABLE].to_pylist()[0]
    assert json.loads(row["after"]) == {"item_id": 9}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{nope", "malformed JSON"),
        (b"", "empty payload"),
        (b"[]", "not a JSON object"),
        (envelope("x", after={}), "op: expected one of c, u, d, r"),
        (envelope("c"), "op c without a after image"),
        (envelope("d"), "op d without a before image"),
        (envelope("c", after=[1]), "after: expected an object or null"),
        (envelope("c", after={"a": 1}, ts_ms="soon"), "source.ts_ms"),
        (envelope("c", after={"a": 1}, lsn="0/1"), "source.lsn: expected an integer"),
        (b"\xff" + envelope("c", after={"a": 1}), "invalid UTF-8"),
    ],
)
def test_bad_cdc_record_is_a_dead_letter(value: bytes, reason: str) -> None:
    parsed = cdc.parse(batch("oltp.public.customers", [value]))
    assert parsed.tables[cdc.TABLE].num_rows == 0
    assert len(parsed.dead) == 1 and reason in parsed.dead[0][5], parsed.dead
    assert parsed.dead[0][4] == value


# --- order events ---------------------------------------------------------------------------------
def order_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_type": "order_created",
        "order_id": 123,
        "customer_id": 7,
        "payment_method_id": 3,
        "store_id": 42,
        "ordered_at": "2026-11-21T09:00:00.123Z",
        "lines": [
            {
                "line_no": 1,
                "product_id": 555,
                "quantity": 2,
                "unit_price": "12.34",
                "discount_type": "none",
                "discount_value": "0",
                "is_suggestion": False,
            },
            {
                "line_no": 2,
                "product_id": 556,
                "quantity": 1,
                "unit_price": "5.00",
                "discount_type": "percentage",
                "discount_value": "10",
                "is_suggestion": False,
            },
        ],
    }
    event.update(changes)
    return event


def outbox(event: dict[str, Any] | str, op: str = "c", event_id: int = 99) -> bytes:
    payload = event if isinstance(event, str) else orders.payload_json(event)
    after = {
        "event_id": event_id,
        "order_id": 123,
        "event_type": "order_created",
        "payload": payload,
    }
    return envelope(op, after=after if op != "d" else None, before=after if op == "d" else None)


def line(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(order_event()["lines"][0])
    base.update(changes)
    return base


def test_order_event_lands_as_one_order_and_its_lines() -> None:
    parsed = orders.parse(batch("oltp.public.order_events", [outbox(order_event())]), WINDOW)
    assert not parsed.dead
    order = parsed.tables[orders.ORDERS].to_pylist()
    lines = parsed.tables[orders.LINES].to_pylist()
    assert len(order) == 1 and order[0]["event_id"] == 99 and order[0]["store_id"] == 42
    assert order[0]["ordered_at"] == dt.datetime(2026, 11, 21, 9, 0, 0, 123000, tzinfo=dt.UTC)
    assert [ln["line_no"] for ln in lines] == [1, 2]
    assert str(lines[0]["unit_price"]) == "12.34" and lines[1]["discount_type"] == "percentage"
    assert str(lines[1]["discount_value"]) == "10.0000"
    assert all(ln["kafka_offset"] == 0 and ln["order_id"] == 123 for ln in lines)


def test_outbox_delete_and_tombstone_are_changes_not_dead_letters() -> None:
    parsed = orders.parse(
        batch("oltp.public.order_events", [outbox(order_event(), op="d"), None]), WINDOW
    )
    assert not parsed.dead
    assert parsed.tables[cdc.TABLE].column("op").to_pylist() == ["d", "t"]
    assert parsed.tables[orders.ORDERS].num_rows == 0


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (order_event(store_id=0), "store_id out of range"),
        (order_event(event_type="order_deleted"), "event_type: unknown"),
        (order_event(schema_version=3), "unsupported schema_version"),
        (order_event(lines=[]), "lines: expected a non-empty array"),
        (order_event(coupon="X"), "unexpected field(s): coupon"),
        (order_event(ordered_at="2099-01-01T00:00:00Z"), "ordered_at in the future"),
        (order_event(customer_id="7"), "customer_id: expected an integer"),
        (order_event(lines=[line(quantity=0)]), "lines[0].quantity out of range"),
        (order_event(lines=[line(unit_price=12.34)]), "unit_price: expected a decimal string"),
        (order_event(lines=[line(unit_price="-1")]), "unit_price out of range"),
        (order_event(lines=[line(unit_price="1.234")]), "more than 2 decimal places"),
        (order_event(lines=[line(discount_value="0.00061")]), "more than 4 decimal places"),
        (order_event(lines=[line(discount_type="bogus")]), "discount_type: unknown"),
        (order_event(lines=[line(is_suggestion="no")]), "is_suggestion: expected a boolean"),
        (order_event(lines=[line(), line()]), "duplicate line_no 1"),
        (order_event(lines=[line(sku="x")]), "lines[0]: unexpected field(s): sku"),
        ("{not json", "after.payload: malformed JSON"),
    ],
)
def test_bad_order_event_is_one_dead_letter(event: dict[str, Any] | str, reason: str) -> None:
    # Given an outbox row whose payload breaks the contract
    parsed = orders.parse(batch("oltp.public.order_events", [outbox(event)]), WINDOW)
    # Then the whole event is one dead letter (never half an order)
    assert parsed.tables[orders.ORDERS].num_rows == 0
    assert parsed.tables[orders.LINES].num_rows == 0
    assert len(parsed.dead) == 1 and reason in parsed.dead[0][5], parsed.dead


def test_outbox_row_must_agree_with_its_payload() -> None:
    value = outbox(order_event(order_id=124))
    parsed = orders.parse(batch("oltp.public.order_events", [value]), WINDOW)
    assert len(parsed.dead) == 1 and "order_id" in parsed.dead[0][5]


# --- routing and offsets ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("pos.scans", "scans"),
        ("test.scans.abc", "scans"),
        ("oltp.public.order_events", "orders"),
        ("oltp.public.item_master", "cdc"),
        ("oltp.public.stores", "cdc"),
    ],
)
def test_topics_route_to_their_parser(topic: str, kind: str) -> None:
    assert pipeline.kind_of(topic) == kind


def test_unknown_topic_needs_an_explicit_kind() -> None:
    with pytest.raises(ValueError, match="no parser"):
        pipeline.kind_of("misc.topic")
    assert pipeline.kind_of("misc.topic", {"misc.topic": "cdc"}) == "cdc"


def test_ends_are_one_past_the_last_offset_per_partition() -> None:
    records = pa.concat_tables([batch("a", [b"x"] * 3), batch("b", [b"y"] * 5)])
    assert pipeline.ends_of(records) == {("a", 0): 3, ("b", 0): 5}


def test_offsets_nest_and_flatten() -> None:
    flat = {("t", 0): 5, ("t", 1): 7, ("u", 0): 1}
    nested = _nest(flat)
    assert nested == {"t": {"0": 5, "1": 7}, "u": {"0": 1}}
    assert _flat(json.loads(json.dumps(nested))) == flat


@pytest.mark.parametrize(
    ("begin", "end", "cap", "expected"),
    [
        (
            {("t", 0): 0, ("t", 1): 0},
            {("t", 0): 100, ("t", 1): 300},
            1000,
            {("t", 0): 100, ("t", 1): 300},
        ),
        (
            {("t", 0): 0, ("t", 1): 0},
            {("t", 0): 100, ("t", 1): 300},
            200,
            {("t", 0): 50, ("t", 1): 150},
        ),
        ({("t", 0): 10, ("t", 1): 0}, {("t", 0): 10, ("t", 1): 5}, 1, {("t", 0): 10, ("t", 1): 1}),
    ],
)
def test_read_limit_splits_by_backlog(
    begin: dict[tuple[str, int], int],
    end: dict[tuple[str, int], int],
    cap: int,
    expected: dict[tuple[str, int], int],
) -> None:
    capped = _cap(begin, end, cap)
    assert capped == expected
    assert all(begin[tp] <= capped[tp] <= end[tp] for tp in end)


def test_a_fixed_amount_discount_keeps_its_four_decimals() -> None:
    # Given an order line with a fixed-amount discount stored in thousands (0.0006 -> 0.60 off)
    event = order_event(lines=[line(discount_type="fixed_amount", discount_value="0.0006")])
    # When it is validated
    parsed, error = orders.validate_payload(event, WINDOW)
    # Then it is accepted with its exact value, not rounded and not dead-lettered
    assert error is None and parsed is not None
    assert str(parsed[1][0][5]) == "0.0006"
