"""`tillflow elt reconcile` end to end, in databases of its own: three generated UTC days of 3
stores (late and malformed events, voids across midnight) are landed in raw with a churn slot
inside them that reprices a category and, in the same transaction, deletes one of its items; dbt
builds the days, and the oracle finds no difference, in the marts and in the serving view, also
in samples taken while runs build (one failing part way); after one raw scan's quantity is
changed and its day rebuilt, the oracle lists that store and day and fails.

There is no broker here: the generator's own output (``history_chunks``, what ``generate
history`` sends) goes through ingestion's per-record rules (``validate_record``) and is COPYed into
raw.pos_scans. The CDC change log is written from the OLTP rows as Debezium would publish them
(a snapshot, then the churn slot's inserts, updates and deletes, committed at ``CHANGE_AT``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest

from tillflow.adapters.warehouse import prepare_warehouse
from tillflow.config import Settings
from tillflow.domain.events.records import TimeWindow
from tillflow.domain.events.scans import validate_record
from tillflow.domain.generation.model import Catalog, epoch_ms
from tillflow.jobs.elt import dbt
from tillflow.jobs.elt.reconcile import watch
from tillflow.jobs.elt.reconcile.compare import mart_day_rule, table
from tillflow.jobs.elt.reconcile.expected import LOOKBACK, GeneratedWindow, expected_totals
from tillflow.jobs.elt.reconcile.oracle import reconcile
from tillflow.jobs.elt.reconcile.prices import seeded_history
from tillflow.jobs.generators import churn, reference_load
from tillflow.jobs.generators.scans import history_chunks
from tillflow.jobs.lakehouse.days import day_range

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

WAREHOUSE_DB, OLTP_DB = "tillflow_wt_oracle", "tillflow_wt_oracle_oltp"
SEED, STORES, BAD_SHARE = 20261121, 3, 0.05
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=3)
#: The churn slot's commit instant, inside the window (the warehouse's valid-from of its prices):
#: its slot reprices category 19 and deletes item 37 of that category in the same transaction
#: (asserted in _land_cdc).
CHANGE_AT = datetime(2026, 3, 2, 15, 20, 0, 123000, tzinfo=UTC)
#: The UTC days dbt builds: the window's, the two before it that late events land on, and the
#: one after it that the window's last business dates reach into.
BUILD = (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC))
SCAN_COLUMNS = (
    "scan_id", "store_id", "checkstand_id", "item_id", "quantity", "scanned_at",
    "schema_version", "kafka_topic", "kafka_partition", "kafka_offset",
)  # fmt: skip
CDC_COLUMNS = ("source_table", "op", "before", "after", "source_lsn", "source_ts", "kafka_topic",
               "kafka_partition", "kafka_offset")  # fmt: skip


def _images(conn: psycopg.Connection[Any], table: str, where: str = "true") -> list[str]:
    return [
        str(r[0]) for r in conn.execute(f"select row_to_json(t)::text from {table} t where {where}")
    ]


def _repriced(price: Any, factor: float) -> Decimal:
    """The churn's SQL: greatest(round(unit_price * factor, 2), 0.01), half away from zero."""
    value = (Decimal(str(price)) * Decimal(str(factor))).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return max(value, Decimal("0.01"))


def _land_cdc(admin: str, oltp: str) -> None:
    """Snapshot of the reference tables, the churn slot at CHANGE_AT, and its CDC changes in
    commit order: the inserts, the category's updates, then the deletes (an item of the repriced
    category among them: its update and its delete share the transaction and the instant)."""
    snapshot_at = datetime(2026, 3, 1, tzinfo=UTC)
    rows: list[tuple[Any, ...]] = []
    with psycopg.connect(oltp) as conn:
        for table in ("item_categories", "stores", "item_master"):
            rows += [(table, "r", None, image, snapshot_at) for image in _images(conn, table)]
        before = {json.loads(i)["item_id"]: json.loads(i) for i in _images(conn, "item_master")}
    result = churn.apply_item_churn(oltp, CHANGE_AT, SEED)
    assert result.applied
    category, factor = int(result.details["category_id"]), float(result.details["factor"])
    deleted = [int(i) for i in result.details["deleted"]]
    both = [i for i in deleted if before[i]["category_id"] == category]
    assert both, f"slot of {CHANGE_AT} deletes none of category {category}: pick another"
    with psycopg.connect(oltp) as conn:
        # The run happens now; the test makes it the commit of CHANGE_AT (what the oracle reads).
        conn.execute(
            "update generator_runs set applied_at = %s where kind = 'item_churn'", (CHANGE_AT,)
        )
        after = {json.loads(i)["item_id"]: json.loads(i) for i in _images(conn, "item_master")}
    stamp = CHANGE_AT.isoformat().replace("+00:00", "Z")
    for item_id in sorted(set(after) - set(before)):
        rows.append(("item_master", "c", None, json.dumps(after[item_id]), CHANGE_AT))
    last: dict[int, dict[str, Any]] = dict(before)
    for item_id, image in sorted(before.items()):
        if image["category_id"] != category:
            continue
        updated = after.get(item_id) or {
            **image,
            "unit_price": str(_repriced(image["unit_price"], factor)),
            "updated_at": stamp,
        }
        rows.append(("item_master", "u", json.dumps(image), json.dumps(updated), CHANGE_AT))
        last[item_id] = updated
    for item_id in deleted:
        rows.append(("item_master", "d", json.dumps(last[item_id]), None, CHANGE_AT))
    sql = f"copy raw.cdc_changes ({', '.join(CDC_COLUMNS)}) from stdin"
    with psycopg.connect(admin) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for offset, (table, op, old, new, ts) in enumerate(rows):
            copy.write_row((table, op, old, new, offset, ts, "oracle.cdc", 0, offset))


def _land_scans(admin: str) -> int:
    """The generator's events of the window, through ingestion's rules, into raw.pos_scans."""
    catalog = Catalog.from_seed(SEED, STORES)
    window = TimeWindow.current()
    landed = 0
    sql = f"copy raw.pos_scans ({', '.join(SCAN_COLUMNS)}) from stdin"
    with psycopg.connect(admin) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for chunk, _ in history_chunks(catalog, SEED, START, END, BAD_SHARE, hashlib.sha256()):
            for value in chunk.values:
                row, _ = validate_record(value, window)
                if row is not None:
                    copy.write_row((*row, 1, "oracle.pos.scans", 0, landed))
                    landed += 1
    return landed


@pytest.fixture(scope="module")
def warehouse(stack: Settings) -> Iterator[dict[str, str]]:
    pg = stack.postgres
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"drop database if exists {OLTP_DB} with (force)")
        conn.execute(f"create database {OLTP_DB}")
    oltp = pg.dsn(OLTP_DB)
    admin = prepare_warehouse(stack, WAREHOUSE_DB, fresh=True)
    try:
        reference_load.bootstrap_oltp(oltp, SEED)
        _land_cdc(admin, oltp)
        landed = _land_scans(admin)
        assert landed > 1000
        dsn = pg.dsn(WAREHOUSE_DB, pg.dbt)
        dbt.build_interval(dsn, *BUILD)
        yield {"admin": admin, "dbt": dsn, "oltp": oltp}
    finally:
        with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"drop database if exists {OLTP_DB} with (force)")
            conn.execute(f"drop database if exists {WAREHOUSE_DB} with (force)")


def _reconcile(dsns: dict[str, str]) -> Any:
    # applied_at was rewritten to CHANGE_AT, the instant the CDC rows carry; the rewrite's own
    # commit time is now, so the oracle is told to read applied_at.
    report = reconcile(
        dsns["oltp"], dsns["dbt"], SEED, START, END, STORES, BAD_SHARE, price_valid_from="applied"
    )
    print("\n".join(table(report.differences)))
    return report


def test_serving_equals_the_oracle_in_every_sample_during_builds_and_a_failed_one(
    warehouse: dict[str, str],
) -> None:
    # Given the days of the churn slot and the next built without a tenth of their raw scans
    # (voids included; of scans whose events all lie in those days), which then land after the
    # build's cutoff: the marts do not hold them, the serving view must
    days = (START, START + timedelta(days=2))
    columns = ", ".join((*SCAN_COLUMNS, "ingested_at"))
    with psycopg.connect(warehouse["admin"]) as conn:
        held_back = conn.execute(
            "delete from raw.pos_scans where kafka_offset %% 10 = 3 and scan_id in ("
            " select scan_id from raw.pos_scans group by scan_id"
            " having min(scanned_at) >= %s and max(scanned_at) < %s)"
            f" returning {columns}",
            days,
        ).fetchall()
    assert len(held_back) > 100 and any(r[4] == 0 for r in held_back)
    dbt.build_interval(warehouse["dbt"], *days)
    with psycopg.connect(warehouse["admin"]) as conn, conn.cursor() as cur:
        cur.executemany(
            f"insert into raw.pos_scans ({columns})"
            f" values ({', '.join(['%s'] * len(SCAN_COLUMNS))}, now())",
            [r[:-1] for r in held_back],
        )
    report = _reconcile(warehouse)
    assert {d.relation for d in report.differences} == {"marts"}  # serving: exact already
    # When a run fails part way (facts rebuilt, marts skipped), then each of those days is built
    # again (`reconcile --rebuild` builds every day of the window), with the serving view
    # compared with the oracle four times a second all along
    build_days = day_range(days[0].date(), days[1].date() - timedelta(days=1))
    watched = watch.rebuild_watched(
        warehouse["dbt"], report.expected, report.days, build_days, every=0.25
    )
    # Then no sample differed or failed, and the marts equal the oracle again
    print(watched.runs, watched.samples, watched.differing[:5])
    assert watched.samples > 20 and watched.ok, (watched.differing[:5], watched.errors[:3])
    assert watched.runs[0][1] is False and len(watched.runs) == len(build_days) + 1
    assert _reconcile(warehouse).ok


def test_reconcile_passes_on_the_built_window_then_fails_on_one_changed_scan(
    warehouse: dict[str, str],
) -> None:
    # Given the window's scans (late ones on earlier days) built by dbt
    report = _reconcile(warehouse)
    stats = report.stats
    assert stats.landed_bad > 0 and stats.dead_letters > 0 and stats.voided > 0
    assert report.price_changes == 1 and len(report.days) >= 3
    with psycopg.connect(warehouse["admin"]) as conn:
        across_midnight = conn.execute(
            "select count(*) from raw.pos_scans v join raw.pos_scans s using (scan_id)"
            " where v.quantity = 0 and s.quantity > 0"
            " and (v.scanned_at at time zone 'UTC')::date > (s.scanned_at at time zone 'UTC')::date"
        ).fetchone()
        versions = conn.execute(
            "select is_deleted, valid_to = %s from intermediate.int_item_master_history"
            " where item_id = 37 order by valid_from, valid_to",
            (CHANGE_AT,),
        ).fetchall()
    assert across_midnight is not None and across_midnight[0] > 0
    # (item 37 was repriced and deleted in one transaction: its last version ends at the commit
    # instant, deleted, with no zero-length version for the update; the SCD2 tests passed on it)
    assert versions and versions[-1] == (True, True)
    # Then the marts and the serving view hold exactly the oracle's sums
    assert report.ok, report.differences
    # And the price change inside the window moved them (the as-of pricing was exercised)
    unchanged = seeded_history(SEED, [], epoch_ms(START - LOOKBACK))
    generated = GeneratedWindow(Catalog.from_seed(SEED, STORES), SEED, START, END, BAD_SHARE)
    assert expected_totals(generated, unchanged, mart_day_rule())[0].rows() != report.expected

    # When one sold scan's quantity is changed in raw and its day is rebuilt
    with psycopg.connect(warehouse["admin"]) as conn:
        row = conn.execute(
            "update raw.pos_scans set quantity = quantity + 1 where ctid = ("
            " select s.ctid from raw.pos_scans s where s.quantity between 1 and 3"
            " and s.scanned_at >= %s and not exists (select 1 from raw.pos_scans v"
            "  where v.scan_id = s.scan_id and v.quantity = 0) order by s.scanned_at limit 1)"
            " returning store_id, scanned_at",
            (START,),
        ).fetchone()
    assert row is not None
    store, at = int(row[0]), row[1]
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    dbt.build_interval(warehouse["dbt"], day, day + timedelta(days=1))
    # Then the oracle fails and lists that store and day, in the mart and in the serving view
    report = _reconcile(warehouse)
    assert not report.ok
    assert {(d.relation, d.store_id) for d in report.differences} == {
        ("marts", store),
        ("serving", store),
    }
    assert len({d.day for d in report.differences}) == 1
    for d in report.differences:
        assert d.actual[1] == d.expected[1] + 1 and d.actual[0] == d.expected[0]
        assert d.actual[2] > d.expected[2]
    print(json.dumps([d.__dict__ for d in report.differences]))
    # And the command exits 1 with the difference in its table
    argv = [
        sys.executable, "-m", "tillflow.entrypoints.cli", "elt", "--database", WAREHOUSE_DB,
        "reconcile", "--from", START.isoformat(), "--to", END.isoformat(), "--seed", str(SEED),
        "--stores", str(STORES), "--bad-share", str(BAD_SHARE), "--oltp-database", OLTP_DB,
        "--price-valid-from", "applied",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    print(done.stdout, done.stderr)
    assert done.returncode == 1
    assert "reconcile: FAILED, 2 differences" in done.stdout
    assert sum(line.split()[:2] == ["marts", str(store)] for line in done.stdout.splitlines()) == 1
