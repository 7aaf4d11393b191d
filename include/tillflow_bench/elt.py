"""`tillflow bench elt`: the daily dbt build of one day of scans, alone and with history loaded.

The bench works in a database of its own (created, migrated, dropped at the end). Raw rows are
synthesised with numpy and COPYed in: 1000 stores, 32,000 items (CDC snapshot rows), and per day
``scans`` scans in the contract's shape (quantity 1 at 90 % else 2-4, 1 in 200 voided 60-180 s
later by the same scan_id with quantity 0), each day on a topic of its own.

Measured, like for like: (1) a re-run of the target day when it is the only day in the
warehouse; (2) after ``history_days`` earlier days are loaded and built, a re-run of that same
day. Both replace the day's rows (delete, then insert), so the ratio shows what the history adds,
not what a re-run costs over a first build (the first build alone is printed too). An
incremental design keeps (2) / (1) near 1; dbt's ``run_results.json`` of both runs shows each
node's time, so a node whose cost follows the history stands out.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tillflow.adapters.warehouse import drop_database, prepare_warehouse
from tillflow.config import Settings

BENCH_DB = "tillflow_bench_elt"
STORES = 1000
ITEMS = 32_000
CATEGORIES = 32
SNAPSHOT_AT = datetime(2025, 12, 31, tzinfo=UTC)
SCAN_COLUMNS = (
    "scan_id, store_id, checkstand_id, item_id, quantity, scanned_at, schema_version,"
    " kafka_topic, kafka_partition, kafka_offset, ingested_at"
)
CDC_COLUMNS = (
    "source_table, op, before, after, source_lsn, source_ts, kafka_topic, kafka_partition,"
    " kafka_offset, ingested_at"
)


@dataclass
class BuildTiming:
    label: str
    seconds: float
    nodes: dict[str, float] = field(default_factory=dict)  # unique_id -> execution seconds


@dataclass
class BenchResult:
    scans_per_day: int
    history_days: int
    alone: BuildTiming
    with_history: BuildTiming
    load_seconds: float
    history_build_seconds: float

    @property
    def ratio(self) -> float:
        return self.with_history.seconds / self.alone.seconds

    def growth(self, top: int = 8) -> list[tuple[str, float, float]]:
        """Nodes by added seconds with history: (node, alone s, with history s)."""
        names = self.alone.nodes.keys() | self.with_history.nodes.keys()
        rows = [
            (n, self.alone.nodes.get(n, 0.0), self.with_history.nodes.get(n, 0.0)) for n in names
        ]
        return sorted(rows, key=lambda r: r[2] - r[1], reverse=True)[:top]


def cdc_rows() -> str:
    """CSV (COPY text) of the CDC snapshot ("r") rows for the bench's reference data."""
    import numpy as np

    r = np.random.default_rng(20261121)
    out = io.StringIO()
    offset = 0
    ts = SNAPSHOT_AT.isoformat()
    iso = SNAPSHOT_AT.isoformat().replace("+00:00", "Z")

    def add(table: str, after: dict[str, Any]) -> None:
        nonlocal offset
        payload = json.dumps(after).replace("\\", "\\\\")
        out.write(f"{table}\tr\t\\N\t{payload}\t{offset}\t{ts}\tbench.cdc\t0\t{offset}\t{ts}\n")
        offset += 1

    for cid in range(1, CATEGORIES + 1):
        add("item_categories", {"category_id": cid, "name": f"category {cid}", "updated_at": iso})
    for sid in range(1, STORES + 1):
        add(
            "stores",
            {
                "store_id": sid, "name": f"store {sid}", "address": f"{sid} Main St",
                "city": "Springfield", "state": "IL", "postal_code": "62701",
                "latitude": "39.781721", "longitude": "-89.650148",
                "timezone": "America/Chicago", "checkstands": 10, "opened_on": "2020-01-01",
                "updated_at": iso,
            },
        )  # fmt: skip
    prices = np.round(r.uniform(0.5, 60.0, ITEMS), 2)
    for iid in range(1, ITEMS + 1):
        add(
            "item_master",
            {
                "item_id": iid, "upc": f"{iid:012d}", "name": f"item {iid}",
                "category_id": 1 + iid % CATEGORIES, "unit_price": f"{prices[iid - 1]:.2f}",
                "frequency": 1.0, "updated_at": iso,
            },
        )  # fmt: skip
    for cust in range(1, 11):
        add(
            "customers",
            {"customer_id": cust, "name": f"customer {cust}", "email": f"c{cust}@example.com",
             "tier": "regular", "updated_at": iso},
        )  # fmt: skip
    for pm, method in enumerate(("cash", "credit_card", "e_wallet", "bank_transfer"), start=1):
        add(
            "payment_methods",
            {"payment_method_id": pm, "method": method, "bank": "ACB" if pm == 4 else None,
             "name": method, "updated_at": iso},
        )  # fmt: skip
    return out.getvalue()


def scan_rows(day: date, n: int) -> tuple[str, int]:
    """COPY text of one UTC day's raw scans (``n`` scans plus their voids); (text, rows)."""
    import numpy as np
    import pandas as pd

    r = np.random.default_rng(day.toordinal())
    weights = np.random.default_rng(7).gamma(0.6, 1.0, ITEMS)
    cumulative = np.cumsum(weights) / weights.sum()
    items = np.minimum(np.searchsorted(cumulative, r.random(n)), ITEMS - 1) + 1
    quantity = np.where(r.random(n) < 0.9, 1, r.integers(2, 5, n))
    start = pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC))
    at = start + pd.to_timedelta(np.sort(r.integers(0, 86_400_000, n)), unit="ms")
    prefix = f"{day:%Y%m%d}"
    ids = pd.Series(np.arange(n)).map(lambda i: f"{prefix}{i:016x}")
    stores = r.integers(1, STORES + 1, n)
    checkstands = r.integers(1, 11, n)
    voided = np.flatnonzero(r.random(n) < 1 / 200)
    void_at = at[voided] + pd.to_timedelta(r.integers(60_000, 180_000, len(voided)), unit="ms")
    frame = pd.DataFrame(
        {
            "scan_id": pd.concat([ids, ids.iloc[voided]], ignore_index=True),
            "store_id": np.concatenate([stores, stores[voided]]),
            "checkstand_id": np.concatenate([checkstands, checkstands[voided]]),
            "item_id": np.concatenate([items, items[voided]]),
            "quantity": np.concatenate([quantity, np.zeros(len(voided), dtype=quantity.dtype)]),
            "scanned_at": at.append(void_at),
        }
    )
    frame["schema_version"] = 1
    frame["kafka_topic"] = f"bench.pos.scans.{prefix}"
    frame["kafka_partition"] = 0
    frame["kafka_offset"] = np.arange(len(frame))
    frame["ingested_at"] = frame["scanned_at"] + pd.Timedelta(seconds=1)
    text = frame.to_csv(sep="\t", header=False, index=False, date_format="%Y-%m-%d %H:%M:%S.%f%z")
    return text, len(frame)


def _copy(dsn: str, table: str, columns: str, text: str) -> None:
    import psycopg

    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"copy raw.{table} ({columns}) from stdin") as copy:
            data = text.encode()
            for i in range(0, len(data), 1 << 22):
                copy.write(data[i : i + (1 << 22)])
        cur.execute(f"analyze raw.{table}")


def _node_times(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text())
    return {r["unique_id"]: float(r["execution_time"]) for r in results["results"]}


def _build(dsn: str, start: date, end: date, target: Path, label: str) -> BuildTiming:
    from tillflow.jobs.elt import dbt

    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC)
    run = dbt.build_interval(dsn, lo, hi, "--target-path", str(target))
    return BuildTiming(label, run.seconds, _node_times(target))


def run_bench(
    settings: Settings,
    *,
    scans: int = 1_000_000,
    history_days: int = 10,
    target_day: date = date(2026, 2, 11),
    database: str = BENCH_DB,
    keep: bool = False,
    progress: Callable[[str], None] = print,
) -> BenchResult:
    """Measure the target day's build alone, then after ``history_days`` earlier days."""
    import tempfile

    t_load = 0.0
    # A fresh warehouse with the real one's roles, schemas, grants and migrations.
    admin = prepare_warehouse(settings, database, fresh=True)
    dsn = settings.postgres.dsn(database, settings.postgres.dbt)
    try:
        with tempfile.TemporaryDirectory(prefix="tillflow-bench-elt-") as tmp:
            target = Path(tmp) / "target"
            t0 = time.perf_counter()
            _copy(admin, "cdc_changes", CDC_COLUMNS, cdc_rows())
            text, rows = scan_rows(target_day, scans)
            _copy(admin, "pos_scans", SCAN_COLUMNS, text)
            t_load += time.perf_counter() - t0
            progress(f"    loaded reference CDC rows and {rows:,} raw rows for {target_day}")
            # Create every relation first (an empty day), so both measured runs are incremental.
            warm = _build(dsn, target_day - timedelta(days=1), target_day, target, "warm-up")
            progress(f"    warm-up build (empty day): {warm.seconds:.1f}s")
            day = (target_day, target_day + timedelta(days=1))
            first_build = _build(dsn, *day, target, "first build alone")
            progress(f"    first build of {target_day} alone: {first_build.seconds:.1f}s")
            alone = _build(dsn, *day, target, "re-run alone")
            progress(f"    re-run of {target_day} alone: {alone.seconds:.1f}s")
            first = target_day - timedelta(days=history_days)
            t0 = time.perf_counter()
            for i in range(history_days):
                text, rows = scan_rows(first + timedelta(days=i), scans)
                _copy(admin, "pos_scans", SCAN_COLUMNS, text)
            t_load += time.perf_counter() - t0
            progress(f"    loaded {history_days} days of history ({time.perf_counter() - t0:.0f}s)")
            hist = _build(dsn, first, target_day, target, "history")
            progress(f"    build of the {history_days} history days: {hist.seconds:.1f}s")
            again = _build(dsn, *day, target, "re-run with history")
            progress(f"    re-run of {target_day} with history: {again.seconds:.1f}s")
            return BenchResult(scans, history_days, alone, again, t_load, hist.seconds)
    finally:
        if not keep:
            drop_database(settings.postgres.dsn("postgres"), database)
