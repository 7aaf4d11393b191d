"""The exactly-once sink: raw rows, dead letters and the batch-commit log in ONE transaction.

Per chunk (all records of one or more Kafka topic-partitions, in offset order):

1. lock the job's commit-log rows ``ops.ingest_offsets`` for those partitions (``FOR UPDATE``) and
   drop the records below their ``next_offset`` — they landed before (a replay after a crash);
2. COPY the rest — binary, encoded by numpy for the scans — into a temporary table and
   ``INSERT … ON CONFLICT DO NOTHING`` on the key (topic, partition, offset) (mode ``merge``), or
   straight into the raw table (mode ``direct``: the fence alone guarantees no replay, and a
   conflict would fail loudly instead of being skipped);
3. advance ``next_offset`` to one past the chunk, and commit.

A crash anywhere before the commit leaves nothing; after it, the log and the rows agree, and the
source restarts from the log (the database wins over Spark's checkpoint). A lost connection
(PostgreSQL restarted, backend terminated) is retried on a new connection, which is safe because
of the fence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tillflow.adapters import pgcopy
from tillflow.domain.events import changes as cdc
from tillflow.domain.events import orders, scans
from tillflow.domain.events.records import Parsed

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

log = logging.getLogger(__name__)

DEAD_LETTERS = "raw.dead_letters"
DEAD_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_key", "payload", "error")
#: raw table -> its COPY columns (ingested_at/received_at take their defaults)
COLUMNS: dict[str, tuple[str, ...]] = {
    scans.TABLE: scans.COLUMNS,
    cdc.TABLE: cdc.COLUMNS,
    orders.ORDERS: orders.ORDER_COLUMNS,
    orders.LINES: orders.LINE_COLUMNS,
    DEAD_LETTERS: DEAD_COLUMNS,
}
#: Tables whose rows carry more than one row per offset (the line number completes the key).
CONFLICT_KEYS: dict[str, str] = {
    orders.LINES: "kafka_topic, kafka_partition, kafka_offset, line_no",
}
MODES = ("merge", "direct")
#: COPY straight into raw, behind the commit log's fence: about 1.5x the merge mode's speed.
DEFAULT_MODE = "direct"

TopicPartition = tuple[str, int]


@dataclass
class LandResult:
    rows: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    skipped: int = 0  # records below the commit log's next_offset (landed before)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    seconds: float = 0.0
    attempts: int = 1

    @property
    def landed(self) -> int:
        return sum(self.rows.values())


def _tmp(table: str) -> str:
    return "tmp_" + table.replace(".", "_")


def _coords_mask(table: pa.Table, fence: Mapping[TopicPartition, int]) -> pa.Array | None:
    """True for the rows at or past the fence of their partition (those still to land)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not fence or table.num_rows == 0:
        return None
    keep = pa.array([True] * table.num_rows)
    topic, part, offset = (
        table.column("kafka_topic"),
        table.column("kafka_partition"),
        table.column("kafka_offset"),
    )
    for (t, p), next_offset in fence.items():
        below = pc.and_(
            pc.and_(pc.equal(topic, t), pc.equal(part, p)), pc.less(offset, next_offset)
        )
        keep = pc.and_(keep, pc.invert(below))
    return keep


class Sink:
    """One PostgreSQL connection (re-opened on failure) landing chunks for one ingestion job."""

    def __init__(
        self,
        dsn: str,
        job: str,
        mode: str = DEFAULT_MODE,
        retry_seconds: float = 120.0,
        application_name: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"sink mode must be one of {MODES}, got {mode!r}")
        self.dsn = dsn
        self.job = job
        self.mode = mode
        self.retry_seconds = retry_seconds
        self.application_name = (application_name or f"tillflow-ingest/{job}")[:63]
        self._conn: psycopg.Connection[Any] | None = None

    # --- connection -------------------------------------------------------------------------
    def connect(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = psycopg.connect(self.dsn, application_name=self.application_name)
        with conn.cursor() as cur:
            cur.execute("set synchronous_commit = on")
            for table in COLUMNS:
                cur.execute(
                    f"create temp table if not exists {_tmp(table)} "
                    f"(like {table} including defaults) on commit delete rows"
                )
        conn.commit()
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- landing ----------------------------------------------------------------------------
    def land(self, parsed: Parsed, ends: Mapping[TopicPartition, int]) -> LandResult:
        """Land one parsed chunk; ``ends`` is one past the last offset read per partition."""
        import psycopg

        started = time.perf_counter()
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    result = self._land_once(parsed, ends, self.mode)
                except psycopg.errors.UniqueViolation:
                    # direct mode met rows it did not land itself (another job, or rows restored
                    # behind the commit log): this chunk merges instead; the log still advances.
                    log.warning(
                        "sink %s: key conflict in direct mode; merging this chunk", self.job
                    )
                    result = self._land_once(parsed, ends, "merge")
                result.attempts = attempt
                result.seconds = time.perf_counter() - started
                return result
            except psycopg.OperationalError as exc:
                self.close()
                if time.monotonic() > deadline:
                    raise
                log.warning("sink %s: connection lost (%s); retrying", self.job, exc)
                time.sleep(min(0.2 * attempt, 2.0))

    def _land_once(
        self, parsed: Parsed, ends: Mapping[TopicPartition, int], mode: str
    ) -> LandResult:
        conn = self.connect()
        result = LandResult()
        try:
            with conn.cursor() as cur:
                fence = self._fence(cur, ends)
                for table, data in parsed.tables.items():
                    result.rows[table], skipped = self._write(cur, table, data, fence, mode)
                    result.skipped += skipped
                dead = parsed.dead_letters()
                result.dead_letters, skipped = self._write(cur, DEAD_LETTERS, dead, fence, mode)
                result.skipped += skipped
                result.next_offsets = self._advance(cur, ends)
            conn.commit()
        except BaseException:
            if not conn.closed:
                try:
                    conn.rollback()
                except Exception:  # the connection is gone: close() follows
                    log.debug("rollback failed", exc_info=True)
            raise
        return result

    def _fence(
        self, cur: psycopg.Cursor[Any], ends: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        if not ends:
            return {}
        topics = [t for t, _ in ends]
        parts = [p for _, p in ends]
        cur.execute(
            "select o.kafka_topic, o.kafka_partition, o.next_offset from ops.ingest_offsets o"
            " join unnest(%s::text[], %s::int[]) as w(t, p)"
            "   on o.kafka_topic = w.t and o.kafka_partition = w.p"
            " where o.job = %s order by 1, 2 for update of o",
            (topics, parts, self.job),
        )
        return {(t, p): n for t, p, n in cur.fetchall()}

    def _advance(
        self, cur: psycopg.Cursor[Any], ends: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        if not ends:
            return {}
        items = sorted(ends.items())
        cur.execute(
            "insert into ops.ingest_offsets as o (job, kafka_topic, kafka_partition, next_offset)"
            " select %s, t, p, n from unnest(%s::text[], %s::int[], %s::bigint[]) as w(t, p, n)"
            " on conflict (job, kafka_topic, kafka_partition) do update"
            " set next_offset = greatest(o.next_offset, excluded.next_offset), updated_at = now()"
            " returning kafka_topic, kafka_partition, next_offset",
            (self.job, [k[0] for k, _ in items], [k[1] for k, _ in items], [n for _, n in items]),
        )
        return {(t, p): n for t, p, n in cur.fetchall()}

    def _write(
        self,
        cur: psycopg.Cursor[Any],
        table: str,
        data: pa.Table,
        fence: Mapping[TopicPartition, int],
        mode: str,
    ) -> tuple[int, int]:
        """Write the rows past the fence; -> (rows inserted, rows skipped by the fence)."""
        if data.num_rows == 0:
            return 0, 0
        total = data.num_rows
        keep = _coords_mask(data, fence)
        if keep is not None:
            data = data.filter(keep)
        skipped = total - data.num_rows
        if data.num_rows == 0:
            return 0, skipped
        columns = COLUMNS[table]
        cols = ", ".join(columns)
        direct = mode == "direct" and table == scans.TABLE
        target = table if direct else _tmp(table)
        if table == scans.TABLE:
            with cur.copy(f"copy {target} ({cols}) from stdin (format binary)") as copy:
                copy.write(pgcopy.encode_scans(data))
        else:
            with cur.copy(f"copy {target} ({cols}) from stdin") as copy:
                for row in _rows(data, columns):
                    copy.write_row(row)
        if direct:
            return data.num_rows, skipped
        key = CONFLICT_KEYS.get(table, "kafka_topic, kafka_partition, kafka_offset")
        cur.execute(
            f"insert into {table} ({cols}) select {cols} from {target}"
            f" on conflict ({key}) do nothing"
        )
        inserted = cur.rowcount
        return inserted, skipped + (data.num_rows - inserted)


def _rows(data: pa.Table, columns: Iterable[str]) -> Iterable[tuple[Any, ...]]:
    lists = [data.column(c).to_pylist() for c in columns]
    return zip(*lists, strict=True)


# --- the commit log and progress, read and written by the driver -----------------------------
class DriverDb:
    """One autocommit connection for the driver's small reads and writes (commit log, progress),
    re-opened when it breaks: a micro-batch should not pay a connection set-up each time."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None

    def execute(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        import psycopg

        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(
                        self.dsn, autocommit=True, application_name="tillflow-ingest-driver"
                    )
                cur = self._conn.execute(sql, params)
                return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        return []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_DRIVER_DBS: dict[str, DriverDb] = {}


def driver_db(dsn: str) -> DriverDb:
    db = _DRIVER_DBS.get(dsn)
    if db is None:
        db = _DRIVER_DBS[dsn] = DriverDb(dsn)
    return db


def committed_offsets(dsn: str, job: str) -> dict[TopicPartition, int]:
    """The job's commit log: next offset to read per topic-partition."""
    rows = driver_db(dsn).execute(
        "select kafka_topic, kafka_partition, next_offset from ops.ingest_offsets where job = %s",
        (job,),
    )
    return {(t, p): n for t, p, n in rows}


def record_batch(
    dsn: str,
    job: str,
    stream: str,
    batch_id: int,
    rows_landed: int,
    dead_letters: int,
    started_at: Any,
    finished_at: Any,
    input_rows: int,
    engine: str,
    end_offsets: Mapping[str, Any] | None = None,
) -> None:
    """One micro-batch of one streaming query (``stream``: its checkpoint's name) of ``job``."""
    import json

    driver_db(dsn).execute(
        "insert into ops.ingest_batches (job, stream, batch_id, rows_landed, dead_letters,"
        " started_at, finished_at, input_rows, engine, end_offsets)"
        " values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " on conflict (job, stream, batch_id) do update set rows_landed = excluded.rows_landed,"
        " dead_letters = excluded.dead_letters, started_at = excluded.started_at,"
        " finished_at = excluded.finished_at, input_rows = excluded.input_rows,"
        " engine = excluded.engine, end_offsets = excluded.end_offsets",
        (
            job,
            stream,
            batch_id,
            rows_landed,
            dead_letters,
            started_at,
            finished_at,
            input_rows,
            engine,
            json.dumps(end_offsets) if end_offsets is not None else None,
        ),
    )


def record_progress(
    dsn: str,
    job: str,
    stream: str,
    batch_id: int,
    lag: Mapping[str, int],
    durations_ms: Mapping[str, int],
) -> None:
    """Add Spark's view of a finished batch (lag per partition, phase durations)."""
    import json

    driver_db(dsn).execute(
        "update ops.ingest_batches set lag = %s, total_lag = %s, durations_ms = %s"
        " where job = %s and stream = %s and batch_id = %s",
        (json.dumps(lag), sum(lag.values()), json.dumps(durations_ms), job, stream, batch_id),
    )
