"""Valid and invalid events for tests and the bench (the contract's shape, produced fast)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

_SCAN = (
    '{"schema_version":1,"scan_id":"%032x","store_id":%d,"checkstand_id":%d,'
    '"item_id":%d,"quantity":%d,"scanned_at":"%s"}'
)


def iso_ms(ts: dt.datetime) -> str:
    """UTC, ISO 8601 with milliseconds and a Z suffix (the contract's form)."""
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scan(i: int, scanned_at: str, quantity: int | None = None) -> bytes:
    """Valid scan number ``i``: its scan_id encodes ``i`` (tests compare id sets)."""
    q = (1 if i % 10 else 2 + i % 3) if quantity is None else quantity
    return (_SCAN % (i, 1 + i % 1000, 1 + i % 10, 1 + i % 32000, q, scanned_at)).encode()


def scan_number(scan_id: str) -> int:
    return int(scan_id, 16)


def scans(start: int, count: int, now: dt.datetime | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs of ``count`` valid scans, keyed by store_id as the platform does."""
    stamp = iso_ms(now or dt.datetime.now(dt.UTC))
    for i in range(start, start + count):
        yield str(1 + i % 1000).encode(), scan(i, stamp)


def bad_scans(now: dt.datetime | None = None) -> dict[str, bytes | None]:
    """At least 20 kinds of bad scan records, by name: what each one breaks."""
    now = now or dt.datetime.now(dt.UTC)
    stamp = iso_ms(now)
    good: dict[str, Any] = json.loads(scan(7, stamp))

    def variant(**changes: Any) -> bytes:
        obj = dict(good)
        for k, v in changes.items():
            if v is _DROP:
                obj.pop(k, None)
            else:
                obj[k] = v
        return json.dumps(obj).encode()

    return {
        "malformed_json": b'{"schema_version":1,"scan_id":',
        "not_json": b"hello, till",
        "json_array": b"[1, 2, 3]",
        "json_scalar": b"42",
        "empty": b"",
        "null_value": None,
        "missing_field": variant(item_id=_DROP),
        "null_field": variant(store_id=None),
        "extra_field": variant(price="9.99"),
        "wrong_type_string_int": variant(store_id="42"),
        "wrong_type_float": variant(quantity=1.5),
        "wrong_type_bool": variant(quantity=True),
        "negative_quantity": variant(quantity=-1),
        "absurd_quantity": variant(quantity=1000),
        "unknown_store_zero": variant(store_id=0),
        "unknown_store_high": variant(store_id=1001),
        "bad_checkstand": variant(checkstand_id=11),
        "bad_item": variant(item_id=0),
        "item_overflow": variant(item_id=2**40),
        "bad_scan_id": variant(scan_id="XYZ"),
        "wrong_schema_version": variant(schema_version=2),
        "far_future": variant(scanned_at=iso_ms(now + dt.timedelta(days=3650))),
        "far_past": variant(scanned_at="1970-01-01T00:00:00.000Z"),
        "not_a_date": variant(scanned_at="yesterday"),
        "impossible_date": variant(scanned_at="2026-13-45T10:00:00.000Z"),
        "date_without_zone": variant(scanned_at=stamp[:-1]),
        "invalid_utf8": scan(8, stamp).replace(b'"store_id"', b'"store_\xff\xfeid"'),
        "invalid_utf8_value": variant(scan_id="a" * 32).replace(b"aaaa", b"\xc3\x28aa", 1),
        "oversized": variant(scan_id="a" * 32)[:-1] + b', "pad": "' + b"x" * 10_000 + b'"}',
        "duplicate_key": scan(9, stamp)[:-1] + b',"quantity":3}',
        "two_objects": scan(10, stamp) + scan(11, stamp),
        "nan": scan(12, stamp).replace(b'"quantity":1', b'"quantity":NaN'),
        "nested_object": variant(quantity={"n": 1}),
    }


class _Drop:
    pass


_DROP: Any = _Drop()
