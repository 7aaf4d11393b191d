"""Export days of the warehouse to the lakehouse's Iceberg tables, idempotently.

For each table and day: the warehouse rows' fingerprint (count and an order-free checksum,
computed by PostgreSQL) is compared with the one the day's last export stored in its snapshot;
equal, nothing is written. Otherwise the day's partition is replaced in one commit, the rows
streamed from a ``COPY ... TO STDOUT (FORMAT csv)`` through Arrow's CSV reader in chunks of
``chunk_rows``, so a day of tens of millions of scans never sits in memory whole.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from tillflow.adapters import iceberg
from tillflow.jobs.lakehouse import fingerprint
from tillflow.jobs.lakehouse.days import ExportPlan
from tillflow.jobs.lakehouse.tables import MART_TABLES, RAW_TABLES, LakeTable

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

#: Rows per chunk written (a chunk of raw scans is about 150 MB in Arrow).
DEFAULT_CHUNK_ROWS = 1_000_000
#: Bytes per block of the CSV reader.
_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class DayExport:
    """One table's day: rows in the warehouse, whether it was written, the table's snapshots
    after it, and the seconds it took (fingerprint included)."""

    table: str
    day: date
    rows: int
    written: bool
    snapshots: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "day": self.day.isoformat(),
            "rows": self.rows,
            "written": self.written,
            "snapshots": self.snapshots,
            "seconds": round(self.seconds, 2),
        }

    def line(self) -> str:
        verb = "written" if self.written else "unchanged"
        rate = f", {self.rows / self.seconds:,.0f} rows/s" if self.written and self.seconds else ""
        return (
            f"{self.table:<28} {self.day}  {self.rows:>11,} rows  {verb:<9} "
            f"{self.seconds:6.1f}s{rate}"
        )


def _day_query(table: LakeTable, day: date) -> psycopg.sql.Composed:
    from psycopg import sql

    return sql.SQL(table.select).format(day=sql.Literal(day.isoformat()))


def source_fingerprint(
    conn: psycopg.Connection[Any], table: LakeTable, day: date
) -> fingerprint.Fingerprint:
    """The count and checksum (sum of the rows' text hashes) of the day in the warehouse."""
    from psycopg import sql

    query = sql.SQL(
        "select count(*), coalesce(sum(hashtextextended(q::text, 0)::numeric), 0)::text from ({}) q"
    ).format(_day_query(table, day))
    rows, checksum = conn.execute(query).fetchone() or (0, "0")
    return fingerprint.Fingerprint(int(rows), str(checksum), table.version)


class CopyReader(io.RawIOBase):
    """A readable stream over the chunks of a ``COPY ... TO STDOUT``."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(bytes(chunk))
        size = min(len(buffer), len(self._view))
        buffer[:size] = self._view[:size]
        self._view = self._view[size:]
        return size


def _csv_types(table: LakeTable) -> dict[str, pa.DataType]:
    """What the CSV reader parses each column as: timestamps arrive as epoch microseconds."""
    import pyarrow as pa

    return {
        name: pa.int64() if kind == "timestamptz" else iceberg.arrow_type(kind)
        for name, kind in table.columns
    }


def _to_table(table: LakeTable, batches: list[pa.RecordBatch]) -> pa.Table:
    import pyarrow as pa

    raw = pa.Table.from_batches(batches)
    arrays = [
        raw.column(name).cast(iceberg.arrow_type(kind)) if kind == "timestamptz" else raw[name]
        for name, kind in table.columns
    ]
    return pa.Table.from_arrays(arrays, names=list(table.names))


def read_csv_chunks(stream: Any, table: LakeTable, chunk_rows: int) -> Iterator[pa.Table]:
    """PostgreSQL CSV rows of ``table``'s query (a binary stream) as Arrow tables of about
    ``chunk_rows`` rows in the table's types; a value that does not fit its type (a third
    decimal of a cent, text in a number) raises instead of being rounded or dropped."""
    from pyarrow import csv

    reader = csv.open_csv(
        stream,
        read_options=csv.ReadOptions(column_names=list(table.names), block_size=_BLOCK_BYTES),
        convert_options=csv.ConvertOptions(
            column_types=_csv_types(table),
            # PostgreSQL's CSV: NULL is an empty unquoted field, '' a quoted one.
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= chunk_rows:
            yield _to_table(table, pending)
            pending, count = [], 0
    if count:
        yield _to_table(table, pending)


def read_day(
    conn: psycopg.Connection[Any], table: LakeTable, day: date, chunk_rows: int
) -> Generator[pa.Table, None, None]:
    """The day's rows from the warehouse in chunks of about ``chunk_rows``."""
    from psycopg import sql

    copy_sql = sql.SQL("copy ({}) to stdout (format csv)").format(_day_query(table, day))
    with conn.cursor().copy(copy_sql) as copy:
        stream = io.BufferedReader(CopyReader(iter(copy)), buffer_size=1 << 20)
        yield from read_csv_chunks(stream, table, chunk_rows)


def export_table_day(
    conn: psycopg.Connection[Any],
    catalog: SqlCatalog,
    table: LakeTable,
    day: date,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> DayExport:
    """Export one table's day unless its last export copied the same rows. The fingerprint and
    the rows come from one snapshot of the warehouse (``conn`` is in repeatable read)."""
    t0 = time.monotonic()
    lake_table = iceberg.ensure_table(catalog, table.identifier, table.columns, table.day_column)
    with conn.transaction():
        source = source_fingerprint(conn, table, day)
        last = fingerprint.last_export(iceberg.snapshot_summaries(lake_table), day)
        written = fingerprint.needs_export(last, source)
        if written:
            # Closed before the transaction ends: a write that fails mid-day leaves the COPY
            # open, and the rollback on a busy connection would hide the write's own error.
            with contextlib.closing(read_day(conn, table, day, chunk_rows)) as chunks:
                iceberg.replace_partition(
                    lake_table, table.day_column, day, chunks, source.properties(day)
                )
    return DayExport(
        table.identifier,
        day,
        source.rows,
        written,
        iceberg.snapshot_count(lake_table),
        time.monotonic() - t0,
    )


def export(
    warehouse_dsn: str,
    catalog: SqlCatalog,
    plan: ExportPlan,
    *,
    tables: tuple[LakeTable, ...] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[DayExport], None] | None = None,
) -> list[DayExport]:
    """Export the plan's days, oldest first: the raw tables on its raw days, the marts on its
    mart days (only ``tables`` when given)."""
    import psycopg

    chosen = tables or (*RAW_TABLES, *MART_TABLES)
    done: list[DayExport] = []
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("set datestyle = 'ISO, YMD'")
        conn.commit()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        for day in plan.days:
            for table in chosen:
                days = plan.raw_days if table in RAW_TABLES else plan.mart_days
                if day not in days:
                    continue
                result = export_table_day(conn, catalog, table, day, chunk_rows=chunk_rows)
                done.append(result)
                if progress is not None:
                    progress(result)
    return done
