"""PostgreSQL binary COPY, encoded with numpy: no Python work per row.

Every column of ``raw.pos_scans`` has a fixed width once validated (a scan_id is 32 hex characters,
and the topic is the same for all rows of one group), so a whole batch is one numpy structured
array in the wire format: per row a field count, then per field a length and big-endian bytes.
psycopg's own encoder does ~1M rows per CPU-second; this does tens of millions.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
#: Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
PG_EPOCH_US = 946_684_800_000_000


def _fixed_text(arr: pa.Array, width: int) -> object:
    """A string array whose values all have ``width`` bytes, as numpy ``S<width>``."""
    import numpy as np
    import pyarrow as pa

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    if len(arr) and not np.all(np.diff(offsets) == width):
        raise ValueError(f"not all values are {width} bytes")
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(f"S{width}")


def encode_scans(table: pa.Table) -> bytes:
    """Binary COPY data (header to trailer) for ``scans.COLUMNS`` from a validated scans table."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return HEADER + TRAILER
    chunks: list[bytes] = [HEADER]
    topics = table.column("kafka_topic")
    distinct = pc.unique(topics).to_pylist()
    for topic in distinct:
        part = table if len(distinct) == 1 else table.filter(pc.equal(topics, topic))
        chunks.append(_encode_scans_one_topic(part, str(topic).encode()))
    chunks.append(TRAILER)
    return b"".join(chunks)


def _encode_scans_one_topic(table: pa.Table, topic: bytes) -> bytes:
    import numpy as np
    import pyarrow as pa

    n = table.num_rows
    tl = len(topic)
    dtype = np.dtype(
        [
            ("nf", ">i2"),
            ("l0", ">i4"), ("scan_id", "S32"),
            ("l1", ">i4"), ("store_id", ">i4"),
            ("l2", ">i4"), ("checkstand_id", ">i2"),
            ("l3", ">i4"), ("item_id", ">i4"),
            ("l4", ">i4"), ("quantity", ">i2"),
            ("l5", ">i4"), ("scanned_at", ">i8"),
            ("l6", ">i4"), ("schema_version", ">i2"),
            ("l7", ">i4"), ("topic", f"S{tl}" if tl else "V0"),
            ("l8", ">i4"), ("partition", ">i4"),
            ("l9", ">i4"), ("offset", ">i8"),
        ]
    )  # fmt: skip
    rec = np.empty(n, dtype=dtype)
    rec["nf"] = 10
    for name, width in (
        ("l0", 32), ("l1", 4), ("l2", 2), ("l3", 4), ("l4", 2),
        ("l5", 8), ("l6", 2), ("l7", tl), ("l8", 4), ("l9", 8),
    ):  # fmt: skip
        rec[name] = width

    def col(name: str) -> np.ndarray:
        c = table.column(name)
        return (c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c).to_numpy(
            zero_copy_only=False
        )

    rec["scan_id"] = _fixed_text(table.column("scan_id"), 32)
    rec["store_id"] = col("store_id")
    rec["checkstand_id"] = col("checkstand_id")
    rec["item_id"] = col("item_id")
    rec["quantity"] = col("quantity")
    ts = table.column("scanned_at").cast(pa.int64())
    rec["scanned_at"] = (ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts).to_numpy(
        zero_copy_only=False
    ) - PG_EPOCH_US
    rec["schema_version"] = col("schema_version")
    if tl:
        rec["topic"] = topic
    rec["partition"] = col("kafka_partition")
    rec["offset"] = col("kafka_offset")
    return rec.tobytes()
