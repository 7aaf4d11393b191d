"""Deterministic raw rows for the warehouse: what ingestion would land, without Kafka or Spark.

The fixture covers three UTC days (``FIXTURE_DAYS``) and every case the warehouse must get right:
scans across several days and stores, a void (the same scan_id re-sent with quantity 0), a price
change in the middle of a day, an item deleted mid-day after it sold, an item inserted, a customer
changing tier, and orders with every discount type plus a suggestion line added later.

All rows carry Kafka coordinates on ``fixture.*`` topics and ids far above generated ones, so the
fixture can live beside real data and be removed exactly (:func:`clear`). ``build_rows`` is pure;
``load`` writes the rows (idempotent: the same rows, the same coordinates).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

FIXTURE_TOPIC_PREFIX = "fixture."
SCAN_TOPIC = "fixture.pos.scans"
CDC_TOPIC = "fixture.oltp.cdc"
ORDER_TOPIC = "fixture.oltp.order_events"

#: The UTC days the fixture has sales on.
FIXTURE_DAYS: tuple[date, ...] = (date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))
#: When the CDC initial snapshot ("r" ops) was taken: before any fixture sale.
SNAPSHOT_AT = datetime(2026, 3, 1, tzinfo=UTC)

STORES = (900_001, 900_002, 900_003)
CATEGORIES = {9_001: "fixture produce", 9_002: "fixture dairy"}
#: item_id -> (name, category_id, unit price at snapshot time)
ITEMS: dict[int, tuple[str, int, Decimal]] = {
    9_000_001: ("fixture apples", 9_001, Decimal("10.00")),
    9_000_002: ("fixture pears", 9_001, Decimal("4.50")),
    9_000_003: ("fixture bananas", 9_001, Decimal("2.25")),
    9_000_004: ("fixture milk", 9_002, Decimal("1.99")),
    9_000_005: ("fixture butter", 9_002, Decimal("3.40")),
    9_000_006: ("fixture cream", 9_002, Decimal("5.00")),
}
CUSTOMERS = {9_000_001: "regular", 9_000_002: "gold", 9_000_003: "diamond", 9_000_004: "silver"}
PAYMENT_METHODS: dict[int, tuple[str, str | None]] = {
    9_001: ("cash", None),
    9_002: ("credit_card", None),
    9_003: ("bank_transfer", "ACB"),
    9_004: ("e_wallet", None),
}

#: The mid-day price change: item 9_000_001 goes from 10.00 to 12.50 at this instant.
PRICE_CHANGE_ITEM = 9_000_001
PRICE_CHANGE_AT = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
PRICE_BEFORE, PRICE_AFTER = Decimal("10.00"), Decimal("12.50")
#: The item deleted from the item master after it sold.
DELETED_ITEM = 9_000_006
DELETED_AT = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
#: An item inserted during the first day.
INSERTED_ITEM = 9_000_007
INSERTED_AT = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
INSERTED_PRICE = Decimal("7.75")
#: A customer whose tier changes (gold -> diamond) on the first day.
TIER_CHANGE_CUSTOMER = 9_000_002
TIER_CHANGE_AT = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
#: The scan that is voided 120 s after it was made.
VOIDED_SCAN_ID = "f" * 24 + "0000dead"


@dataclass
class RawRows:
    """Rows per raw table, as tuples in the tables' column order (see ``COLUMNS``)."""

    pos_scans: list[tuple[Any, ...]] = field(default_factory=list)
    cdc_changes: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    order_lines: list[tuple[Any, ...]] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        yield "pos_scans", self.pos_scans
        yield "cdc_changes", self.cdc_changes
        yield "orders", self.orders
        yield "order_lines", self.order_lines


COLUMNS: dict[str, tuple[str, ...]] = {
    "pos_scans": (
        "scan_id", "store_id", "checkstand_id", "item_id", "quantity", "scanned_at",
        "schema_version", "kafka_topic", "kafka_partition", "kafka_offset", "ingested_at",
    ),
    "cdc_changes": (
        "source_table", "op", "before", "after", "source_lsn", "source_ts",
        "kafka_topic", "kafka_partition", "kafka_offset", "ingested_at",
    ),
    "orders": (
        "event_id", "event_type", "order_id", "customer_id", "payment_method_id", "store_id",
        "ordered_at", "kafka_topic", "kafka_partition", "kafka_offset", "ingested_at",
    ),
    "order_lines": (
        "event_id", "order_id", "line_no", "product_id", "quantity", "unit_price",
        "discount_type", "discount_value", "is_suggestion",
        "kafka_topic", "kafka_partition", "kafka_offset", "ingested_at",
    ),
}  # fmt: skip


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _item_row(
    item_id: int, name: str, category_id: int, price: Decimal, at: datetime
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "upc": f"{item_id:012d}",
        "name": name,
        "category_id": category_id,
        "unit_price": str(price),  # Debezium decimal.handling.mode=string
        "frequency": 1.0,
        "updated_at": _iso(at),
    }


def _cdc_rows(rows: RawRows) -> None:
    offset = 0
    lsn = 1_000

    def add(table: str, op: str, before: Any, after: Any, ts: datetime) -> None:
        nonlocal offset, lsn
        rows.cdc_changes.append(
            (
                table,
                op,
                json.dumps(before) if before is not None else None,
                json.dumps(after) if after is not None else None,
                lsn,
                ts,
                CDC_TOPIC,
                0,
                offset,
                ts + timedelta(seconds=2),
            )
        )
        offset += 1
        lsn += 8

    snap = SNAPSHOT_AT
    for cid, cname in CATEGORIES.items():
        add(
            "item_categories",
            "r",
            None,
            {"category_id": cid, "name": cname, "updated_at": _iso(snap)},
            snap,
        )
    for sid in STORES:
        add(
            "stores",
            "r",
            None,
            {
                "store_id": sid,
                "name": f"fixture store {sid}",
                "address": f"{sid} Main St",
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "latitude": "39.781721",
                "longitude": "-89.650148",
                "timezone": "America/Chicago",
                "checkstands": 10,
                "opened_on": "2020-01-01",
                "updated_at": _iso(snap),
            },
            snap,
        )
    for iid, (name, cat, price) in ITEMS.items():
        add("item_master", "r", None, _item_row(iid, name, cat, price, snap), snap)
    for cust, tier in CUSTOMERS.items():
        add(
            "customers",
            "r",
            None,
            {
                "customer_id": cust,
                "name": f"fixture customer {cust}",
                "email": f"c{cust}@example.com",
                "tier": tier,
                "updated_at": _iso(snap),
            },
            snap,
        )
    for pm, (method, bank) in PAYMENT_METHODS.items():
        add(
            "payment_methods",
            "r",
            None,
            {
                "payment_method_id": pm,
                "method": method,
                "bank": bank,
                "name": f"fixture {method}",
                "updated_at": _iso(snap),
            },
            snap,
        )
    # An insert, a tier change, a mid-day price change and a delete, in commit order.
    add(
        "item_master",
        "c",
        None,
        _item_row(INSERTED_ITEM, "fixture yoghurt", 9_002, INSERTED_PRICE, INSERTED_AT),
        INSERTED_AT,
    )
    cust_before = {
        "customer_id": TIER_CHANGE_CUSTOMER, "name": f"fixture customer {TIER_CHANGE_CUSTOMER}",
        "email": f"c{TIER_CHANGE_CUSTOMER}@example.com", "tier": "gold", "updated_at": _iso(snap),
    }  # fmt: skip
    cust_after = {**cust_before, "tier": "diamond", "updated_at": _iso(TIER_CHANGE_AT)}
    add("customers", "u", cust_before, cust_after, TIER_CHANGE_AT)
    name, cat, _ = ITEMS[PRICE_CHANGE_ITEM]
    add(
        "item_master",
        "u",
        _item_row(PRICE_CHANGE_ITEM, name, cat, PRICE_BEFORE, snap),
        _item_row(PRICE_CHANGE_ITEM, name, cat, PRICE_AFTER, PRICE_CHANGE_AT),
        PRICE_CHANGE_AT,
    )
    name, cat, price = ITEMS[DELETED_ITEM]
    add("item_master", "d", _item_row(DELETED_ITEM, name, cat, price, snap), None, DELETED_AT)


def _scan_id(day: date, store_id: int, n: int) -> str:
    return f"{day:%Y%m%d}{store_id:08d}{n:016x}"


def _scan_rows(rows: RawRows) -> None:
    offset = 0

    def add(scan_id: str, store: int, item: int, qty: int, at: datetime) -> None:
        nonlocal offset
        rows.pos_scans.append(
            (scan_id, store, 1 + offset % 10, item, qty, at, 1, SCAN_TOPIC, store % 3, offset,
             at + timedelta(seconds=1))
        )  # fmt: skip
        offset += 1

    regular = [i for i in ITEMS if i not in (PRICE_CHANGE_ITEM, DELETED_ITEM)] + [INSERTED_ITEM]
    for d_index, day in enumerate(FIXTURE_DAYS):
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        for s_index, store in enumerate(STORES):
            for n in range(12):
                at = midnight + timedelta(hours=8 + n, minutes=7 * s_index + d_index)
                item = regular[(n + s_index + d_index) % len(regular)]
                if item == INSERTED_ITEM and at < INSERTED_AT:
                    item = regular[0]
                add(_scan_id(day, store, n), store, item, 1 + (n % 4 == 0) * (1 + n % 3), at)
    # The price-change item sells before and after the change, on the day of the change.
    day = PRICE_CHANGE_AT.date()
    add(
        _scan_id(day, STORES[0], 100),
        STORES[0],
        PRICE_CHANGE_ITEM,
        2,
        PRICE_CHANGE_AT - timedelta(hours=1),
    )
    add(
        _scan_id(day, STORES[0], 101),
        STORES[0],
        PRICE_CHANGE_ITEM,
        3,
        PRICE_CHANGE_AT + timedelta(hours=1),
    )
    # The deleted item sells on the first day and on its last day, before its delete.
    add(
        _scan_id(FIXTURE_DAYS[0], STORES[1], 102),
        STORES[1],
        DELETED_ITEM,
        1,
        datetime(2026, 3, 2, 10, tzinfo=UTC),
    )
    add(_scan_id(day, STORES[1], 103), STORES[1], DELETED_ITEM, 2, DELETED_AT - timedelta(hours=2))
    # A scan voided 120 s later: the same scan_id re-sent with quantity 0.
    at = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    add(VOIDED_SCAN_ID, STORES[2], 9_000_002, 4, at)
    add(VOIDED_SCAN_ID, STORES[2], 9_000_002, 0, at + timedelta(seconds=120))


#: (order_id, day index, hour, customer, payment method, store, lines)
#: lines: (line_no, product_id, quantity, unit_price, discount_type, discount_value)
_ORDERS: tuple[tuple[int, int, int, int, int, int, tuple[tuple[Any, ...], ...]], ...] = (
    (9_000_001, 0, 9, 9_000_001, 9_001, 900_001, (
        (1, 9_000_001, 2, "45000.00", "none", "0"),
        (2, 9_000_004, 1, "20000.00", "percentage", "10"),
    )),
    (9_000_002, 0, 19, 9_000_002, 9_003, 900_002, (
        (1, 9_000_002, 3, "30000.00", "fixed_amount", "5"),
    )),
    (9_000_003, 1, 10, 9_000_003, 9_003, 900_001, (
        (1, 9_000_003, 1, "80000.00", "percentage", "25"),
        (2, 9_000_005, 4, "12000.00", "none", "0"),
    )),
    (9_000_004, 1, 16, 9_000_004, 9_002, 900_003, (
        (1, 9_000_006, 1, "50000.00", "fixed_amount", "10"),
    )),
    (9_000_005, 2, 11, 9_000_001, 9_004, 900_002, (
        (1, 9_000_002, 2, "30000.00", "none", "0"),
        (2, 9_000_007, 1, "15000.00", "percentage", "50"),
    )),
)  # fmt: skip


def _order_rows(rows: RawRows) -> None:
    offset = 0
    event_id = 9_000_000
    for order_id, d_index, hour, cust, pm, store, lines in _ORDERS:
        day = FIXTURE_DAYS[d_index]
        at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        event_id += 1
        ing = at + timedelta(seconds=1)
        rows.orders.append(
            (event_id, "order_created", order_id, cust, pm, store, at, ORDER_TOPIC, 0, offset, ing)
        )
        for line_no, product, qty, price, dtype, dval in lines:
            rows.order_lines.append(
                (event_id, order_id, line_no, product, qty, Decimal(price), dtype, Decimal(dval),
                 False, ORDER_TOPIC, 0, offset, ing)
            )  # fmt: skip
        offset += 1
        if cust == 9_000_003:  # diamond + ACB bank transfer: the suggestion engine adds a line
            event_id += 1
            rows.orders.append(
                (event_id, "suggestion_added", order_id, cust, pm, store, at, ORDER_TOPIC, 0, offset, ing)
            )  # fmt: skip
            rows.order_lines.append(
                (event_id, order_id, 3, 9_000_004, 1, Decimal("20000.00"), "percentage",
                 Decimal("30"), True, ORDER_TOPIC, 0, offset, ing + timedelta(seconds=1))
            )  # fmt: skip
            offset += 1


def build_rows() -> RawRows:
    """The fixture's raw rows (pure, deterministic)."""
    rows = RawRows()
    _cdc_rows(rows)
    _scan_rows(rows)
    _order_rows(rows)
    return rows


#: Each dbt snapshot table, its key column and the fixture's keys in it.
SNAPSHOT_KEYS: dict[str, tuple[str, list[int]]] = {
    "snap_stores": ("store_id", list(STORES)),
    "snap_item_master": ("item_id", [*ITEMS, INSERTED_ITEM]),
    "snap_customers": ("customer_id", list(CUSTOMERS)),
    "snap_payment_methods": ("payment_method_id", list(PAYMENT_METHODS)),
}


def clear(dsn: str) -> None:
    """Delete every fixture row: anything on a ``fixture.*`` topic from the raw tables, and the
    fixture's keys from the dbt snapshots. Loaded again later, the same CDC rows come back with
    the same ``updated_at``; a snapshot that had invalidated them would record a second version
    with the same id (its unique test fails), so their versions go with them."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        for table in (*COLUMNS, "dead_letters"):
            conn.execute(
                f"delete from raw.{table} where kafka_topic like %s",
                (FIXTURE_TOPIC_PREFIX + "%",),
            )
        built = conn.execute("select tablename from pg_tables where schemaname = 'snapshots'")
        present = {str(r[0]) for r in built.fetchall()}
        for table, (key, ids) in SNAPSHOT_KEYS.items():
            if table in present:
                conn.execute(f"delete from snapshots.{table} where {key} = any(%s)", (ids,))


def load(dsn: str, rows: RawRows | None = None) -> dict[str, int]:
    """Insert the fixture rows (idempotent on Kafka coordinates); return rows inserted per table."""
    import psycopg

    rows = rows or build_rows()
    inserted: dict[str, int] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table, values in rows.tables():
            cols = COLUMNS[table]
            sql = (
                f"insert into raw.{table} ({', '.join(cols)}) "
                f"values ({', '.join(['%s'] * len(cols))}) on conflict do nothing"
            )
            cur.executemany(sql, values)
            inserted[table] = len(values)
    return inserted
