"""The vectorised JSON encoding against the contract (contracts/pos_scan.v1.json)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from tillflow.domain.generation import encoding
from tillflow.domain.generation.model import (
    SCAN_ID_DTYPE,
    Catalog,
    Scans,
    scan_id_hex,
    scans_between,
)
from tillflow.jobs.generators.scans import MALFORMED_KINDS, CountingSink, bad_events, run_history

pytestmark = pytest.mark.unit

SCHEMA = json.loads((resources.files("tillflow") / "contracts" / "pos_scan.v1.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def make_scans(rows: list[tuple[int, int, int, int, int]]) -> Scans:
    """(store, checkstand, item, quantity, epoch ms) rows with random scan ids."""
    a = np.array(rows, dtype=np.int64).reshape(-1, 5)
    ids = np.random.default_rng(3).bit_generator.random_raw(2 * len(rows)).view(SCAN_ID_DTYPE)
    return Scans(
        ids,
        a[:, 0].astype(np.int32),
        a[:, 1].astype(np.int16),
        a[:, 2].astype(np.int32),
        a[:, 3].astype(np.int8),
        a[:, 4],
    )


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def decode(scans: Scans) -> list[dict[str, Any]]:
    return [json.loads(v) for v in encoding.split(encoding.encode(scans))]


@pytest.mark.parametrize(
    ("row", "expected_time"),
    [
        ((1, 1, 1, 1, ms("2026-03-08T14:00:00.000Z")), "2026-03-08T14:00:00.000Z"),
        ((9, 10, 9999, 0, ms("2026-12-31T23:59:59.999Z")), "2026-12-31T23:59:59.999Z"),
        ((10, 2, 10000, 4, ms("2027-01-01T00:00:00.001Z")), "2027-01-01T00:00:00.001Z"),
        ((1000, 9, 32000, 2, ms("2028-02-29T12:34:56.789Z")), "2028-02-29T12:34:56.789Z"),
        ((999, 5, 1_000_004, 3, ms("1999-12-31T23:59:59.050Z")), "1999-12-31T23:59:59.050Z"),
        ((100, 3, 12_345_678, 1, ms("2026-03-08T07:00:00.100Z")), "2026-03-08T07:00:00.100Z"),
    ],
)
def test_each_field_is_encoded_exactly(
    row: tuple[int, int, int, int, int], expected_time: str
) -> None:
    # Given one event with edge values; When it is encoded and parsed back
    scans = make_scans([row])
    (doc,) = decode(scans)
    # Then every field round-trips and the document follows the contract
    assert doc == {
        "schema_version": 1,
        "scan_id": scan_id_hex(scans.scan_id)[0],
        "store_id": row[0],
        "checkstand_id": row[1],
        "item_id": row[2],
        "quantity": row[3],
        "scanned_at": expected_time,
    }
    VALIDATOR.validate(doc)


def test_values_are_compact_json_one_per_event() -> None:
    scans = make_scans([(5, 1, 77, 1, ms("2026-03-08T14:00:00Z"))] * 3)
    values = encoding.split(encoding.encode(scans))
    assert len(values) == 3
    assert all(b" " not in v and b"\x00" not in v and b"\n" not in v for v in values)
    assert values[0].startswith(b'{"schema_version":1,"scan_id":"')


def test_out_of_range_values_are_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encoding.encode(make_scans([(10_000, 1, 1, 1, 0)]))


def test_empty_input_encodes_to_nothing() -> None:
    assert encoding.encode(Scans.empty()) == b""
    assert encoding.split(b"") == []


@pytest.fixture(scope="module")
def generated() -> list[bytes]:
    """An hour and a half of 40 stores of the seeded chain, crossing an hour (voids included)."""
    catalog = Catalog.from_seed(max_stores=40)
    start = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    end = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    values: list[bytes] = []
    for batch in scans_between(catalog, 11, start, end):
        values.extend(encoding.split(encoding.encode(batch.scans)))
    return values


def test_every_generated_event_follows_the_contract(generated: list[bytes]) -> None:
    # Given generated events; When each is validated against the JSON Schema
    errors = [e.message for v in generated[::7] for e in VALIDATOR.iter_errors(json.loads(v))]
    # Then none breaks it, and the timestamps are UTC with milliseconds and a Z
    assert errors == []
    docs = [json.loads(v) for v in generated[::101]]
    assert all(TIMESTAMP.match(d["scanned_at"]) for d in docs)
    assert len(generated) > 100_000
    assert {json.loads(v)["quantity"] for v in generated[::13]} >= {0, 1, 2}


def test_bad_events_are_mixed_in_and_the_good_ones_stay_identical() -> None:
    # Given a window generated without and with a 2 % share of bad events
    catalog = Catalog.from_seed(max_stores=20)
    start, end = datetime(2026, 11, 20, 16, tzinfo=UTC), datetime(2026, 11, 20, 17, tzinfo=UTC)

    class Keep(CountingSink):
        def __init__(self) -> None:
            super().__init__()
            self.values: list[bytes] = []

        def send(self, values: list[bytes], store_ids: np.ndarray) -> None:
            self.values.extend(values)

    plain, mixed = Keep(), Keep()
    run_history(catalog, 5, start, end, plain)
    stats = run_history(catalog, 5, start, end, mixed, bad_share=0.02)
    # When the events that break the contract or lie before the window (2-48 h late) are taken out
    window_start_ms = start.timestamp() * 1000
    good, late, malformed = [], 0, 0
    for v in mixed.values:
        try:
            doc = json.loads(v)
        except ValueError:
            malformed += 1
            continue
        if list(VALIDATOR.iter_errors(doc)) or not TIMESTAMP.match(str(doc.get("scanned_at"))):
            malformed += 1
        elif ms(doc["scanned_at"]) < window_start_ms:
            late += 1
        else:
            good.append(v)
    # Then the rest is exactly the plain run, and about 2 % were bad, half late, half malformed
    assert good == plain.values
    assert stats.bad == late + malformed
    assert 0.015 < stats.bad / len(plain.values) < 0.025
    assert 0.4 < late / stats.bad < 0.6


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_breaks_the_contract(kind: str) -> None:
    from tillflow.jobs.generators.scans import _malformed

    good = encoding.split(encoding.encode(make_scans([(5, 1, 77, 1, ms("2026-03-08T14:00Z"))])))[0]
    bad = _malformed(kind, good)
    try:
        doc = json.loads(bad)
    except ValueError:
        return  # not JSON at all: broken
    broken = list(VALIDATOR.iter_errors(doc)) or not TIMESTAMP.match(str(doc.get("scanned_at")))
    assert broken, f"{kind} still valid: {bad!r}"


def test_bad_events_need_a_share_and_events() -> None:
    catalog = Catalog.from_seed(max_stores=2)
    batch = next(
        scans_between(
            catalog,
            1,
            datetime(2026, 11, 20, 16, tzinfo=UTC),
            datetime(2026, 11, 20, 17, tzinfo=UTC),
        )
    )
    assert bad_events(1, batch, 0.0) == []
    assert len(bad_events(1, batch, 0.5)) > 0
