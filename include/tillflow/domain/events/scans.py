"""Parse and validate ``pos.scans`` records (contract ``contracts/pos_scan.v1.json``).

The fast path is vectorised: the payloads of a batch are joined into one newline-delimited buffer,
parsed by Arrow's JSON reader against an explicit schema (unexpected fields are errors) and checked
with Arrow compute kernels. A block that the reader rejects (malformed JSON, wrong types, invalid
UTF-8, …) is split in halves until the culprits are isolated, and those few records take the
per-record path, which gives each one its reason. Both paths apply the same rules (the unit tests
run every bad record through both).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from tillflow.domain.events.records import (
    KAFKA_COORDINATE_COLUMNS,
    RFC3339,
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
    import numpy as np
    import pyarrow as pa

TABLE = "raw.pos_scans"
#: A scan is ~190 bytes; anything much larger is not a scan.
MAX_SCAN_BYTES = 4096
SCAN_ID = r"^[0-9a-f]{32}$"
SCAN_ID_RE = re.compile(SCAN_ID)
INT32_MAX = 2**31 - 1
#: field -> (min, max) for the integer fields of the contract.
INT_RANGES: dict[str, tuple[int, int]] = {
    "store_id": (1, 1000),
    "checkstand_id": (1, 10),
    "item_id": (1, INT32_MAX),
    "quantity": (0, 4),
}
FIELDS = (
    "schema_version",
    "scan_id",
    "store_id",
    "checkstand_id",
    "item_id",
    "quantity",
    "scanned_at",
)
#: Blocks this small go record by record when the JSON reader rejects them.
_BISECT_FLOOR = 16

#: raw.pos_scans columns in COPY order (ingested_at takes its default).
COLUMNS = (
    "scan_id",
    "store_id",
    "checkstand_id",
    "item_id",
    "quantity",
    "scanned_at",
    "schema_version",
    *KAFKA_COORDINATE_COLUMNS,
)


def output_schema() -> pa.Schema:
    import pyarrow as pa

    return raw_schema(
        [
            ("scan_id", pa.string()),
            ("store_id", pa.int32()),
            ("checkstand_id", pa.int16()),
            ("item_id", pa.int32()),
            ("quantity", pa.int16()),
            ("scanned_at", pa.timestamp("us", tz="UTC")),
            ("schema_version", pa.int16()),
        ]
    )


def _json_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("schema_version", pa.int64()),
            ("scan_id", pa.string()),
            ("store_id", pa.int64()),
            ("checkstand_id", pa.int64()),
            ("item_id", pa.int64()),
            ("quantity", pa.int64()),
            ("scanned_at", pa.string()),
        ]
    )


# --- the per-record path --------------------------------------------------------------------
def validate_record(
    payload: bytes | None, window: TimeWindow, max_bytes: int = MAX_SCAN_BYTES
) -> tuple[tuple[str, int, int, int, int, dt.datetime] | None, str | None]:
    """One scan payload -> ((scan_id, store, checkstand, item, quantity, scanned_at), None) or
    (None, reason)."""
    if payload is None:
        return None, "empty payload: null value (tombstone)"
    if len(payload) == 0:
        return None, "empty payload"
    if len(payload) > max_bytes:
        return None, f"oversized payload: {len(payload)} bytes > {max_bytes}"
    text, err = decode_utf8(payload)
    if text is None:
        return None, err
    obj, err = loads_strict(text)
    if err:
        return None, err
    if not isinstance(obj, dict):
        return None, f"not a JSON object: {type(obj).__name__}"
    extra = sorted(set(obj) - set(FIELDS))
    if extra:
        return None, f"unexpected field(s): {', '.join(extra)[:200]}"
    missing = [f for f in FIELDS if obj.get(f) is None]
    if missing:
        return None, f"missing or null field(s): {', '.join(missing)}"
    version = obj["schema_version"]
    if isinstance(version, bool) or version != 1 or not isinstance(version, int):
        return None, f"unsupported schema_version: {version!r}"
    scan_id = obj["scan_id"]
    if not isinstance(scan_id, str):
        return None, f"scan_id: expected a string, got {type(scan_id).__name__}"
    if not SCAN_ID_RE.match(scan_id):
        return None, f"scan_id does not match {SCAN_ID}: {scan_id[:40]!r}"
    ints: dict[str, int] = {}
    for name, (lo, hi) in INT_RANGES.items():
        value, err = check_int(obj, name, lo, hi)
        if err:
            return None, err
        assert value is not None
        ints[name] = value
    scanned_at, err = parse_rfc3339("scanned_at", obj["scanned_at"])
    if err:
        return None, err
    assert scanned_at is not None
    err = window.check("scanned_at", scanned_at)
    if err:
        return None, err
    row = (
        scan_id,
        ints["store_id"],
        ints["checkstand_id"],
        ints["item_id"],
        ints["quantity"],
        scanned_at,
    )
    return row, None


# --- the vectorised path --------------------------------------------------------------------
def parse(
    batch: pa.RecordBatch | pa.Table, window: TimeWindow, max_bytes: int = MAX_SCAN_BYTES
) -> Parsed:
    """Split a Kafka record batch into valid raw.pos_scans rows and dead letters."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    table = table.combine_chunks()
    n = table.num_rows
    out = Parsed()
    if n == 0:
        out.tables[TABLE] = output_schema().empty_table()
        return out
    value = (
        table.column("value").chunk(0)
        if table.column("value").num_chunks
        else pa.array([], pa.binary())
    )
    lengths = pc.binary_length(value)
    first = pc.binary_slice(value, 0, 1)
    last = pc.binary_slice(value, -1)
    eligible = pc.and_(
        pc.and_(pc.greater_equal(lengths, 2), pc.less_equal(lengths, max_bytes)),
        pc.and_(pc.equal(first, b"{"), pc.equal(last, b"}")),
    )
    # A payload with a newline inside is split by the reader into several rows (or fails): the
    # row-count check in _read_block catches it, and the per-record path gives the reason.
    eligible_np = eligible.fill_null(False).to_numpy(zero_copy_only=False)
    fast_idx = np.flatnonzero(eligible_np)
    slow_idx: list[int] = np.flatnonzero(~eligible_np).tolist()

    parts: list[pa.Table] = []
    pending = [fast_idx] if len(fast_idx) else []
    while pending:
        idx = pending.pop()
        parsed = _read_block(value, idx)
        if parsed is None:
            if len(idx) <= _BISECT_FLOOR:
                slow_idx.extend(idx.tolist())
            else:
                half = len(idx) // 2
                pending.extend([idx[half:], idx[:half]])
            continue
        good, bad_idx = _check_block(parsed, idx, window)
        if bad_idx is not None and len(bad_idx):
            # Cast failures (e.g. 2026-13-45) and rule violations: per record, with reasons.
            slow_idx.extend(bad_idx.tolist())
        if good is not None:
            parts.append(good)

    meta = table.select(["key", "value", "topic", "partition", "offset"])
    if parts:
        tables = [_with_coords(meta, p) for p in parts]
        valid = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    else:
        valid = output_schema().empty_table()
    if slow_idx:
        slow_rows, dead = _slow(meta, sorted(slow_idx), window, max_bytes)
        out.dead.extend(dead)
        if slow_rows.num_rows:
            valid = pa.concat_tables([valid, slow_rows])
    out.tables[TABLE] = valid
    return out


def _read_block(value: pa.Array, idx: np.ndarray) -> pa.Table | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    whole = len(idx) == len(value) and (len(idx) == 0 or (idx[0] == 0 and idx[-1] == len(idx) - 1))
    sub = value if whole else value.take(pa.array(idx))
    try:
        sub.cast(pa.string())  # UTF-8 validation of the whole block
        joined = pc.binary_join(
            pa.ListArray.from_arrays(pa.array([0, len(sub)], pa.int32()), sub), b"\n"
        )
        blob = joined[0].as_buffer()
        if blob is None:
            return None
        parsed = pj.read_json(
            pa.BufferReader(blob),
            read_options=pj.ReadOptions(use_threads=False, block_size=max(1 << 20, blob.size + 1)),
            parse_options=pj.ParseOptions(
                explicit_schema=_json_schema(), unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError, ValueError):
        return None
    if parsed.num_rows != len(idx):
        return None  # two objects in one message, or a message that is not one row
    return parsed.combine_chunks()


def _check_block(
    parsed: pa.Table, idx: np.ndarray, window: TimeWindow
) -> tuple[pa.Table | None, np.ndarray | None]:
    """The rows of a parsed block that pass every rule (with their record index), and the
    indexes of those that do not (they go to the per-record path for their reason)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = parsed.column
    ok = pc.equal(col("schema_version"), 1)
    ok = pc.and_(ok, pc.match_substring_regex(col("scan_id"), SCAN_ID))
    for name, (lo, hi) in INT_RANGES.items():
        ok = pc.and_(ok, pc.and_(pc.greater_equal(col(name), lo), pc.less_equal(col(name), hi)))
    ts_text = col("scanned_at")
    ts_ok = pc.match_substring_regex(ts_text, RFC3339).fill_null(False)
    ok = pc.and_(ok, ts_ok)
    ok_np = ok.fill_null(False).to_numpy(zero_copy_only=False)
    # Cast only the well-formed strings; a regex-valid but impossible date fails the whole cast.
    safe_text = pc.if_else(ts_ok, ts_text, pa.scalar("2000-01-01T00:00:00Z"))
    try:
        ts = pc.cast(safe_text, pa.timestamp("us", tz="UTC"))
    except pa.ArrowException:
        return None, idx
    lo_us = int(window.earliest.timestamp() * 1_000_000)
    hi_us = int(window.latest.timestamp() * 1_000_000)
    ts_np = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    ok_np &= (ts_np >= lo_us) & (ts_np <= hi_us)
    keep = np.flatnonzero(ok_np)
    bad = idx[~ok_np]
    if len(keep) == 0:
        return None, bad
    everything = len(keep) == len(ok_np)
    take = pa.array(keep)

    def pick(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        return arr if everything else arr.take(take)

    good = pa.table(
        {
            "_row": pa.array(idx[keep]),
            "scan_id": pick(col("scan_id")),
            "store_id": pick(col("store_id")).cast(pa.int32()),
            "checkstand_id": pick(col("checkstand_id")).cast(pa.int16()),
            "item_id": pick(col("item_id")).cast(pa.int32()),
            "quantity": pick(col("quantity")).cast(pa.int16()),
            "scanned_at": pick(ts),
            "schema_version": pick(col("schema_version")).cast(pa.int16()),
        }
    )
    return good, bad


def _with_coords(meta: pa.Table, part: pa.Table) -> pa.Table:
    import pyarrow as pa

    rows = part.column("_row")
    identity = part.num_rows == meta.num_rows  # rows are distinct record indexes: all of them

    def pick(name: str) -> pa.ChunkedArray:
        return meta.column(name) if identity else meta.column(name).take(rows)

    return pa.table(
        {
            **{name: part.column(name) for name in COLUMNS[:7]},
            "kafka_topic": pick("topic"),
            "kafka_partition": pick("partition"),
            "kafka_offset": pick("offset"),
        },
        schema=output_schema(),
    )


def _slow(
    meta: pa.Table, rows: list[int], window: TimeWindow, max_bytes: int
) -> tuple[pa.Table, list[tuple[str, int, int, bytes | None, bytes | None, str]]]:
    import pyarrow as pa

    sub = meta.take(pa.array(rows, pa.int64()))
    keys, values, topics, partitions, offsets = (
        sub.column(c).to_pylist() for c in meta.column_names
    )
    good: list[tuple[Any, ...]] = []
    dead: list[tuple[str, int, int, bytes | None, bytes | None, str]] = []
    for key, value, topic, part, offset in zip(
        keys, values, topics, partitions, offsets, strict=True
    ):
        row, err = validate_record(value, window, max_bytes)
        if row is None:
            dead.append((topic, part, offset, key, value, err or "invalid"))
        else:
            good.append((*row, 1, topic, part, offset))
    table = rows_to_table(good, output_schema())
    return table, dead
