"""Vectorised JSON encoding of scan events (contract ``contracts/pos_scan.v1.json``).

Every event becomes one compact JSON object followed by a newline, all of them in one ``bytes``
blob: a (events x width) byte matrix is filled column-wise from a template (digits by integer
arithmetic, the scan id through a hex lookup table, the timestamp from day and millisecond
numbers), shorter numbers leave NUL bytes that a boolean mask squeezes out. ``blob.split(b"\\n")``
then gives the Kafka values in C. Nothing here runs a Python loop per event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from tillflow.domain.generation.model import Scans

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION: Final = 1
_DAY_MS: Final = 86_400_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# (literal before the field, field name, width) in output order; the field is filled in after.
_LAYOUT: Final[tuple[tuple[bytes, str, int], ...]] = (
    (b'{"schema_version":' + str(SCHEMA_VERSION).encode() + b',"scan_id":"', "scan_id", 32),
    (b'","store_id":', "store_id", 4),
    (b',"checkstand_id":', "checkstand_id", 2),
    (b',"item_id":', "item_id", 8),
    (b',"quantity":', "quantity", 1),
    (b',"scanned_at":"', "scanned_at", 24),
)
_TAIL: Final = b'"}\n'


def _template() -> tuple[bytes, dict[str, tuple[int, int]]]:
    out = b""
    where: dict[str, tuple[int, int]] = {}
    for literal, name, width in _LAYOUT:
        out += literal
        where[name] = (len(out), width)
        out += b"\x00" * width
    return out + _TAIL, where


TEMPLATE, FIELD_AT = _template()


class _Tables:
    """Lookup tables, built once: 5-digit groups (zero-padded, and with leading zeros as NUL),
    hex pairs for two bytes at a time, and ``HH:MM:SS`` for every second of a day."""

    def __init__(self) -> None:
        import numpy as np

        v = np.arange(10**_GROUP)
        power = 10 ** np.arange(_GROUP - 1, -1, -1)
        digits = (v[:, None] // power) % 10 + 48
        self.pad = digits.astype(np.uint8)
        shown = (v[:, None] >= power) | (power == 1)
        self.sup_last = np.where(shown, digits, 0).astype(np.uint8)  # 0 -> "0"
        self.sup_empty = np.where(v[:, None] >= power, digits, 0).astype(np.uint8)  # 0 -> ""
        hex_pairs = np.frombuffer(
            b"".join(f"{i:02x}".encode() for i in range(256)), np.uint8
        ).reshape(256, 2)
        w = np.arange(65_536)
        # a little-endian uint16 view of two bytes (b0, b1) has the value b0 + 256 * b1
        self.hex16 = np.concatenate([hex_pairs[w & 0xFF], hex_pairs[w >> 8]], axis=1)
        sec = np.arange(86_400)
        hms = np.empty((86_400, 8), np.uint8)
        hms[:, 0:2] = self.pad[sec // 3600, -2:]
        hms[:, 2] = ord(":")
        hms[:, 3:5] = self.pad[(sec // 60) % 60, -2:]
        hms[:, 5] = ord(":")
        hms[:, 6:8] = self.pad[sec % 60, -2:]
        self.hms = hms


_GROUP: Final = 5  # digits per lookup
_TABLES: _Tables | None = None


def _tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _Tables()
    return _TABLES


def _put_int(mat: np.ndarray, col: int, width: int, values: np.ndarray) -> None:
    """Right-aligned decimal digits of non-negative ints, leading positions NUL (squeezed out).

    Only as many digits as the largest value needs are written (the template holds NULs)."""
    import numpy as np

    t = _tables()
    v = values.astype(np.int64, copy=False)
    top = int(v.max()) if v.size else 0
    if v.size and (v.min() < 0 or top >= 10**width):
        raise ValueError(f"value out of range for {width} digits")
    if width > 2 * _GROUP:
        raise ValueError(f"at most {2 * _GROUP} digits")
    used = max(1, len(str(top)))
    end = col + width
    if used <= _GROUP:
        mat[:, end - used : end] = t.sup_last[v, _GROUP - used :]
        return
    hi, lo = np.divmod(v, 10**_GROUP)
    mat[:, end - used : end - _GROUP] = t.sup_empty[hi, 2 * _GROUP - used :]
    mat[:, end - _GROUP : end] = np.where((hi > 0)[:, None], t.pad[lo], t.sup_last[lo])


def _put_timestamps(mat: np.ndarray, col: int, at_ms: np.ndarray) -> None:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC) from epoch milliseconds."""
    import numpy as np

    t = _tables()
    days, in_day = np.divmod(at_ms, _DAY_MS)
    uniq = np.unique(days) if days.size > 64 and int(days.max() - days.min()) > 4096 else None
    first = int(days.min())
    span = int(days.max()) - first + 1
    day_numbers = range(first, first + span) if uniq is None else uniq.tolist()
    table = np.frombuffer(
        b"".join(
            (_EPOCH + timedelta(days=int(d))).strftime("%Y-%m-%dT").encode() for d in day_numbers
        ),
        np.uint8,
    ).reshape(-1, 11)
    index = days - first if uniq is None else np.searchsorted(uniq, days)
    mat[:, col : col + 11] = table[index]
    sec, ms = np.divmod(in_day, 1000)
    mat[:, col + 11 : col + 19] = t.hms[sec]
    mat[:, col + 19] = ord(".")
    mat[:, col + 20 : col + 23] = t.pad[ms, -3:]
    mat[:, col + 23] = ord("Z")


def encode(scans: Scans) -> bytes:
    """All events as newline-terminated compact JSON, in order (one blob)."""
    import numpy as np

    n = len(scans)
    if n == 0:
        return b""
    t = _tables()
    template = np.frombuffer(TEMPLATE, np.uint8)
    mat = np.empty((n, template.size), np.uint8)
    mat[:] = template
    col, width = FIELD_AT["scan_id"]
    words = np.ascontiguousarray(scans.scan_id).view(np.uint16).reshape(n, 8)
    mat[:, col : col + width] = t.hex16[words].reshape(n, width)
    for name in ("store_id", "checkstand_id", "item_id", "quantity"):
        col, width = FIELD_AT[name]
        _put_int(mat, col, width, getattr(scans, name))
    _put_timestamps(mat, FIELD_AT["scanned_at"][0], scans.scanned_at_ms)
    return mat[mat != 0].tobytes()


def split(blob: bytes) -> list[bytes]:
    """The Kafka values of an encoded blob (one per event)."""
    values = blob.split(b"\n")
    values.pop()  # after the last newline
    return values
