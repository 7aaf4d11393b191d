"""Scan parsing and validation: every kind of bad record is a dead letter with a reason, on both
the vectorised path and the per-record path, and valid scans land with exact values."""

from __future__ import annotations

import datetime as dt
import json
import struct

import pyarrow as pa
import pytest

from tillflow.adapters import pgcopy
from tillflow.domain.events import samples as events
from tillflow.domain.events import scans
from tillflow.domain.events.records import TimeWindow, kafka_arrow_schema

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 21, 10, 0, 0, tzinfo=dt.UTC)
WINDOW = TimeWindow(NOW)
BAD = events.bad_scans(NOW)

#: The reason each bad kind must give (a substring).
REASONS = {
    "malformed_json": "malformed JSON",
    "not_json": "malformed JSON",
    "json_array": "not a JSON object",
    "json_scalar": "not a JSON object",
    "empty": "empty payload",
    "null_value": "tombstone",
    "missing_field": "missing or null field(s): item_id",
    "null_field": "missing or null field(s): store_id",
    "extra_field": "unexpected field(s): price",
    "wrong_type_string_int": "store_id: expected an integer, got str",
    "wrong_type_float": "quantity: expected an integer, got float",
    "wrong_type_bool": "quantity: expected an integer, got bool",
    "negative_quantity": "quantity out of range 0..4: -1",
    "absurd_quantity": "quantity out of range 0..4: 1000",
    "unknown_store_zero": "store_id out of range 1..1000: 0",
    "unknown_store_high": "store_id out of range 1..1000: 1001",
    "bad_checkstand": "checkstand_id out of range 1..10: 11",
    "bad_item": "item_id out of range",
    "item_overflow": "item_id out of range",
    "bad_scan_id": "scan_id does not match",
    "wrong_schema_version": "unsupported schema_version: 2",
    "far_future": "scanned_at in the future",
    "far_past": "scanned_at too far in the past",
    "not_a_date": "scanned_at: not an RFC 3339 date-time",
    "impossible_date": "scanned_at: invalid date-time",
    "date_without_zone": "scanned_at: not an RFC 3339 date-time",
    "invalid_utf8": "invalid UTF-8",
    "invalid_utf8_value": "invalid UTF-8",
    "oversized": "oversized payload",
    "duplicate_key": "duplicate field 'quantity'",
    "two_objects": "malformed JSON: Extra data",
    "nan": "non-standard JSON constant NaN",
    "nested_object": "quantity: expected an integer, got dict",
}


def batch(values: list[bytes | None], topic: str = "pos.scans", first_offset: int = 0) -> pa.Table:
    n = len(values)
    return pa.table(
        [
            pa.array([b"1"] * n, pa.binary()),
            pa.array(values, pa.binary()),
            pa.array([topic] * n),
            pa.array([3] * n, pa.int32()),
            pa.array(range(first_offset, first_offset + n), pa.int64()),
            pa.array([0] * n, pa.timestamp("us", tz="UTC")),
            pa.array([0] * n, pa.int32()),
        ],
        schema=kafka_arrow_schema(),
    )


def good(i: int, when: dt.datetime = NOW) -> bytes:
    return events.scan(i, events.iso_ms(when))


def test_there_are_at_least_20_kinds_of_bad_records() -> None:
    assert len(BAD) >= 20
    assert set(BAD) == set(REASONS)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_record_is_rejected_with_its_reason_record_by_record(kind: str) -> None:
    # Given one bad scan; When it is validated on its own
    row, reason = scans.validate_record(BAD[kind], WINDOW)
    # Then it is rejected with the reason for that kind
    assert row is None
    assert reason is not None and REASONS[kind] in reason, reason


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_record_mixed_into_a_batch_is_the_only_dead_letter(kind: str) -> None:
    # Given 300 valid scans with one bad record in the middle (the vectorised path bisects)
    values: list[bytes | None] = [good(i) for i in range(300)]
    values.insert(150, BAD[kind])
    # When the batch is parsed
    parsed = scans.parse(batch(values), WINDOW)
    # Then exactly that record is a dead letter, with coordinates, payload and reason
    assert len(parsed.dead) == 1
    topic, part, offset, key, payload, reason = parsed.dead[0]
    assert (topic, part, offset, key, payload) == ("pos.scans", 3, 150, b"1", BAD[kind])
    assert REASONS[kind] in reason, reason
    # And every valid one is a row
    landed = parsed.tables[scans.TABLE]
    assert landed.num_rows == 300
    assert 150 not in landed.column("kafka_offset").to_pylist()


def test_valid_scan_lands_with_exact_values() -> None:
    # Given a valid scan
    value = good(42, NOW - dt.timedelta(hours=30))
    # When it is parsed
    table = scans.parse(batch([value], first_offset=7), WINDOW).tables[scans.TABLE]
    # Then each column holds the contract's value
    row = table.to_pylist()[0]
    doc = json.loads(value)
    assert row["scan_id"] == doc["scan_id"] == f"{42:032x}"
    assert (row["store_id"], row["checkstand_id"], row["item_id"], row["quantity"]) == (
        doc["store_id"],
        doc["checkstand_id"],
        doc["item_id"],
        doc["quantity"],
    )
    assert row["scanned_at"] == NOW - dt.timedelta(hours=30)
    assert (row["schema_version"], row["kafka_topic"], row["kafka_partition"]) == (
        1,
        "pos.scans",
        3,
    )
    assert row["kafka_offset"] == 7


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-21T09:59:59.999Z", dt.datetime(2026, 11, 21, 9, 59, 59, 999000, tzinfo=dt.UTC)),
        ("2026-11-21T11:00:00+02:00", dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)),
        ("2026-11-21T09:00:00.123456Z", dt.datetime(2026, 11, 21, 9, 0, 0, 123456, tzinfo=dt.UTC)),
    ],
)
def test_rfc3339_variants_parse_the_same_on_both_paths(stamp: str, expected: dt.datetime) -> None:
    # Given a valid scan with an RFC 3339 timestamp variant
    value = json.dumps({**json.loads(good(1)), "scanned_at": stamp}).encode()
    # When parsed vectorised and record by record
    fast = scans.parse(batch([value]), WINDOW).tables[scans.TABLE].column("scanned_at")[0].as_py()
    row, reason = scans.validate_record(value, WINDOW)
    # Then both agree
    assert reason is None and row is not None
    assert fast == row[5] == expected


def test_void_is_a_valid_event() -> None:
    # Given a void: the same scan_id with quantity 0
    void = events.scan(5, events.iso_ms(NOW), quantity=0)
    # When parsed
    parsed = scans.parse(batch([good(5), void]), WINDOW)
    # Then both events land (dbt resolves the net effect)
    assert parsed.tables[scans.TABLE].column("quantity").to_pylist() == [1, 0]
    assert not parsed.dead


def test_many_scattered_bad_records_are_all_isolated() -> None:
    # Given 20,000 scans with every bad kind scattered through them
    values: list[bytes | None] = [good(i) for i in range(20_000)]
    kinds = sorted(BAD)
    positions = {}
    for j, kind in enumerate(kinds):
        pos = 37 + j * 577
        values.insert(pos, BAD[kind])
        positions[pos] = kind
    # When parsed
    parsed = scans.parse(batch(values), WINDOW)
    # Then every bad record and only those are dead letters; the counts add up
    dead = {d[2]: d[5] for d in parsed.dead}
    assert sorted(dead) == sorted(positions)
    for pos, kind in positions.items():
        assert REASONS[kind] in dead[pos]
    assert parsed.tables[scans.TABLE].num_rows + len(parsed.dead) == len(values)


@pytest.mark.parametrize(
    ("age", "future", "ok"),
    [
        (dt.timedelta(days=399), dt.timedelta(0), True),
        (dt.timedelta(days=401), dt.timedelta(0), False),
        (dt.timedelta(0), dt.timedelta(minutes=4), True),
        (dt.timedelta(0), dt.timedelta(minutes=6), False),
    ],
)
def test_time_window_edges(age: dt.timedelta, future: dt.timedelta, ok: bool) -> None:
    # Given a scan just inside or outside the window (400 days back, 5 minutes ahead)
    value = good(1, NOW - age + future)
    # When parsed on both paths
    parsed = scans.parse(batch([value]), WINDOW)
    row, _ = scans.validate_record(value, WINDOW)
    # Then both agree on the verdict
    assert (parsed.tables[scans.TABLE].num_rows == 1) is ok
    assert (row is not None) is ok


def test_binary_copy_encoding_matches_the_wire_format() -> None:
    # Given two parsed scans
    table = scans.parse(batch([good(1), good(2)], topic="pos.scans"), WINDOW).tables[scans.TABLE]
    # When encoded for COPY BINARY
    data = pgcopy.encode_scans(table)
    # Then the header, the first row's fields and the trailer are PostgreSQL's format
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and data.endswith(b"\xff\xff")
    body = data[19:]
    (nfields,) = struct.unpack("!h", body[:2])
    assert nfields == len(scans.COLUMNS)
    (n0,) = struct.unpack("!i", body[2:6])
    assert (n0, body[6:38]) == (32, f"{1:032x}".encode())
    store_len, store = struct.unpack("!ii", body[38:46])
    assert (store_len, store) == (4, 2)
    # 2000-01-01 epoch microseconds for scanned_at
    pos = 46 + 6 + 8 + 6  # checkstand (4+2), item (4+4), quantity (4+2)
    ts_len, ts = struct.unpack("!iq", body[pos : pos + 12])
    assert ts_len == 8
    assert dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts) == NOW
    row_size = len(body[:-2]) // 2
    assert len(body) == 2 * row_size + 2
