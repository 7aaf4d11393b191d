"""`tillflow bench broker-budget`: whole chain days through the running stack, with the broker's
memory, the WAL and the recycles sampled over time.

It runs `tillflow generate history` for the days (the real command, its progress lines shown)
while the stack's continuous ingestion reads, waits until ingestion has landed every scan it
produced, and prints: the broker's RSS over time against its budget, the recycles and how long
producers were held back, pg_wal, and produced / landed / distinct / lost. The stack must run
with the continuous ingestion (`TILLFLOW_INGEST_CONTINUOUS=1 tillflow up`, or `tillflow run`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tillflow import config
from tillflow.config import Settings
from tillflow.runtime.broker_keeper import rss_bytes
from tillflow.runtime.process import read_pid
from tillflow.runtime.supervisor import read_state


@dataclass
class Sample:
    at: float
    rss: int
    pressure: bool
    recycles: int
    pg_wal: int  # OLTP's server, the one CDC's slot is on (bytes)
    slot_held: int = 0  # the most WAL any replication slot held (bytes)
    warehouse_wal: int = 0  # the warehouse's server (bytes; the same server when shared)


class StackSampler:
    """Samples the broker's RSS, the producers' hold, the recycles and pg_wal every ``every`` s
    in a thread, from ``start()`` until ``stop()``."""

    def __init__(self, settings: Settings, every: float) -> None:
        self._settings, self._every = settings, every
        pg = settings.postgres
        self._oltp = pg.dsn_at(pg.oltp, "postgres")
        self._warehouse = pg.dsn("postgres")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[Sample] = []

    def start(self) -> None:
        self._t0 = time.time()
        self._thread.start()

    def stop(self) -> list[Sample]:
        self._done.set()
        self._thread.join(self._every + 5)
        return self.samples

    def _run(self) -> None:
        run_dir = self._settings.run_dir
        while not self._done.is_set():
            pid = read_pid(run_dir / "kafka.pid")
            broker: dict[str, Any] = read_state(run_dir).get("broker") or {}
            self.samples.append(
                Sample(
                    time.time() - self._t0,
                    rss_bytes(pid) if pid else 0,
                    (run_dir / "kafka.pressure").exists(),
                    int(broker.get("recycles", 0)),
                    *_wal_sizes(self._oltp),
                    _wal_sizes(self._warehouse)[0],
                )
            )
            self._done.wait(self._every)


def _wal_sizes(admin: str) -> tuple[int, int]:
    """pg_wal's size and the most WAL any replication slot holds (bytes), one connection; -1
    each while the server does not answer."""
    import psycopg

    try:
        with psycopg.connect(admin, connect_timeout=3, autocommit=True) as conn:
            row = conn.execute(
                "select (select coalesce(sum(size), 0) from pg_ls_waldir()),"
                " (select coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)), 0)"
                "  from pg_replication_slots)"
            ).fetchone()
    except psycopg.Error:
        return -1, -1
    return (int(row[0]), int(row[1])) if row else (0, 0)


def generate_history(day_from: str, day_to: str, stores: int | None) -> tuple[int, float]:
    """Run `tillflow generate history` for the days (its progress lines shown); the scans it
    produced (bad events left out) and its wall seconds. Raises if it fails."""
    argv = [sys.executable, "-m", "tillflow.entrypoints.cli", "generate", "history",
            "--from", day_from, "--to", day_to, "--json"]  # fmt: skip
    if stores:
        argv += ["--stores", str(stores)]
    t0 = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"generate history failed with exit code {proc.returncode}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return int(summary["events"]) - int(summary.get("bad_events", 0)), seconds


def landed_scans(dsn: str, start: datetime, end: datetime, since: datetime) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            # an event is (scan_id, void or not): a void re-sends its scan's id with quantity 0
            "select count(*), count(distinct (scan_id, quantity = 0)) from raw.pos_scans"
            " where kafka_topic = %s"
            " and scanned_at >= %s and scanned_at < %s and ingested_at >= %s",
            (config.TOPICS.scans, start, end, since),
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def landed_rows(dsn: str, since: datetime) -> int:
    """Rows the ingestion job's micro-batches landed since ``since``, every topic: what its
    progress table says, read without touching raw (a cheap poll)."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select coalesce(sum(rows_landed), 0) from ops.ingest_batches"
            " where job = 'ingest' and finished_at >= %s",
            (since,),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_landed(
    dsn: str,
    window: tuple[datetime, datetime],
    since: datetime,
    produced: int,
    timeout: float,
    on_landed: Callable[[], object] | None = None,
) -> tuple[int, int, float]:
    """Wait until ``produced`` scans of the window landed since ``since`` (or the timeout), with
    a progress line every 30 s; the rows and distinct events landed, and the seconds from
    ``since`` until they had. ``on_landed`` is called once, the moment the progress table says
    they have, before raw is counted (a stage measured until then leaves the count out).

    The poll reads the ingestion's progress table; raw is counted (with the distinct events)
    only once that says enough rows landed, because a count over a day of raw scans competes
    with the ingestion it measures (at full scale a parallel query every 2 s took a third of
    the machine).
    """
    rows = distinct = 0
    deadline = time.monotonic() + timeout
    last_print = time.monotonic()
    landed_at = since
    while time.monotonic() < deadline:
        progress = landed_rows(dsn, since)
        if progress >= produced:
            landed_at = datetime.now(UTC)
            if on_landed is not None:
                on_landed()
                on_landed = None
            rows, distinct = landed_scans(dsn, *window, since)
            if rows >= produced:
                break
        if time.monotonic() - last_print > 30:
            last_print = time.monotonic()
            print(f"  landed {progress:,} of {produced:,}", flush=True)
        time.sleep(2)
    else:  # timed out: what did land
        landed_at = datetime.now(UTC)
        rows, distinct = landed_scans(dsn, *window, since)
    return rows, distinct, (landed_at - since).total_seconds()


def _lost(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("select coalesce(sum(records), 0) from ops.ingest_losses").fetchone()
    return int(row[0]) if row else 0


def run(settings: Settings, day_from: str, day_to: str, stores: int | None, every: float) -> int:
    from tillflow.runtime.managed.ingest import ingest
    from tillflow.runtime.registry import all_services

    # The ingestion service is in the registry only where TILLFLOW_INGEST_CONTINUOUS is set (or
    # a chain is planned): ask it directly.
    services = [*all_services(settings), ingest(settings)]
    running = {s.name for s in services if s.pid() is not None}
    missing = {"kafka", "supervisor", "ingest"} - running
    if missing:
        print(
            f"bench broker-budget: {', '.join(sorted(missing))} not running; start the stack with"
            " the continuous ingestion: TILLFLOW_INGEST_CONTINUOUS=1 tillflow up",
            file=sys.stderr,
        )
        return 2
    pg = settings.postgres
    dsn = pg.dsn(config.DB_WAREHOUSE, pg.ingest)
    budget = settings.kafka_memory_budget_mb << 20
    start = datetime.fromisoformat(day_from).replace(tzinfo=UTC)
    end = datetime.fromisoformat(day_to).replace(tzinfo=UTC) + timedelta(days=1)
    since = datetime.now(UTC)
    lost0 = _lost(dsn)
    t0 = time.time()
    sampler = StackSampler(settings, every)
    sampler.start()
    what = f"generate history --from {day_from} --to {day_to}" + (
        f" --stores {stores}" if stores else ""
    )
    print(f"bench broker-budget: {what}; budget {budget >> 20} MB", flush=True)
    try:
        produced, gen_seconds = generate_history(day_from, day_to, stores)
    except RuntimeError as exc:
        sampler.stop()
        print(exc, file=sys.stderr)
        return 1
    print(f"generated {produced:,} scans in {gen_seconds:.0f}s; waiting for ingestion", flush=True)
    rows, distinct, _ = wait_landed(dsn, (start, end), since, produced, timeout=3600)
    total_seconds = time.time() - t0
    samples = sampler.stop()
    lost = _lost(dsn) - lost0
    peak = max((s.rss for s in samples), default=0)
    wal_peak = max((s.pg_wal for s in samples), default=0)
    recycles = samples[-1].recycles if samples else 0
    held = sum(1 for s in samples if s.pressure) * every
    print("\nbroker RSS over time (MB; * = producers held back)")
    step = max(1, len(samples) // 40)
    for s in samples[::step]:
        bar = "#" * int(40 * s.rss / budget) if budget else ""
        print(f"  {s.at:7.0f}s {s.rss >> 20:6d} {'*' if s.pressure else ' '} {bar}")
    print(
        f"\nbudget {budget >> 20} MB; peak RSS {peak >> 20} MB ({peak / budget:.2f}x the budget);"
        f" recycles {recycles}; producers held back ~{held:.0f}s"
    )
    wh_peak = max((s.warehouse_wal for s in samples), default=0)
    print(
        f"pg_wal peak: OLTP's server {wal_peak / 2**30:.2f} GB, the warehouse's {wh_peak / 2**30:.2f} GB"
    )
    print(
        f"scans produced {produced:,}; landed {rows:,}; distinct {distinct:,};"
        f" duplicated {rows - distinct:,}; lost with a recycled broker {lost:,}"
    )
    print(
        f"wall: generate {gen_seconds:.0f}s, until all landed {total_seconds:.0f}s"
        f" ({produced / total_seconds:,.0f} scans/s end to end)"
    )
    ok = peak <= budget and rows == distinct == produced and lost == 0
    print("verdict:", "within budget, every scan landed once" if ok else "MISSED")
    return 0 if ok else 1
