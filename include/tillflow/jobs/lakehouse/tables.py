"""The Iceberg tables of the lakehouse: what each exports from the warehouse and how.

Each table is partitioned by a date column (identity: one partition per day) and named like the
warehouse table it copies. The raw scans' day is the event day in UTC (``scanned_at``'s UTC
date, the day the daily ELT's interval selects them by), kept as a column, ``scan_date``; the
marts' day is their own date column (``business_date``: the store's calendar day of the sales;
``order_date``: the UTC day of the orders). Money is an Iceberg decimal, exact to the cent.

Everything here is pure: the export job (``export.py``) runs the queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tillflow.adapters.iceberg import decimal_params

#: A column: its name and its Iceberg type (``string``, ``int``, ``long``, ``date``,
#: ``timestamptz`` or ``decimal(P,S)``).
Column = tuple[str, str]


@dataclass(frozen=True)
class LakeTable:
    """One Iceberg table: its namespace and name, its columns (name, type) in order, the date
    column it is partitioned by, and the warehouse query of one day (``{day}``: a date literal)."""

    namespace: str
    name: str
    columns: tuple[Column, ...]
    day_column: str
    #: The columns' values of one day as PostgreSQL text, in ``columns`` order; timestamps as
    #: microseconds since the epoch (Arrow casts them back, no time-zone parsing on the way).
    select: str
    #: Columns the query views add (``tillflow sql``): (name, expression), the names the
    #: sample queries use (a sale date, an event time).
    view_columns: tuple[tuple[str, str], ...] = ()
    #: Other names the query views give the table.
    also_named: tuple[str, ...] = ()
    #: Bumped when the columns change: a day exported under another version is exported again.
    version: int = 1

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def __post_init__(self) -> None:
        if self.day_column not in self.names:
            raise ValueError(f"{self.identifier}: no day column {self.day_column!r}")
        unknown = [t for _, t in self.columns if t not in ICEBERG_TYPES and not decimal_params(t)]
        if unknown:
            raise ValueError(f"{self.identifier}: unknown column types {unknown}")


#: The column types the lakehouse uses (Iceberg's names; ``decimal(P,S)`` beside them).
ICEBERG_TYPES: Final = frozenset({"string", "int", "long", "date", "timestamptz"})


def _epoch_us(column: str) -> str:
    return f"(extract(epoch from {column}) * 1000000)::bigint"


MONEY: Final = "decimal(18,2)"

POS_SCANS: Final = LakeTable(
    namespace="raw",
    name="pos_scans",
    columns=(
        ("scan_id", "string"),
        ("store_id", "int"),
        ("checkstand_id", "int"),
        ("item_id", "int"),
        ("quantity", "int"),
        ("scanned_at", "timestamptz"),
        ("schema_version", "int"),
        ("kafka_topic", "string"),
        ("kafka_partition", "int"),
        ("kafka_offset", "long"),
        ("ingested_at", "timestamptz"),
        ("scan_date", "date"),
    ),
    day_column="scan_date",
    view_columns=(("event_time", "scanned_at"),),
    also_named=("raw.pos_transactions",),
    # The day's bounds as instants, so the scanned_at index serves the range.
    select=(
        "select scan_id, store_id, checkstand_id, item_id, quantity, "
        f"{_epoch_us('scanned_at')}, schema_version, kafka_topic, kafka_partition, kafka_offset, "
        f"{_epoch_us('ingested_at')}, {{day}}::date from raw.pos_scans "
        "where scanned_at >= ({day}::date)::timestamp at time zone 'UTC' "
        "and scanned_at < ({day}::date + 1)::timestamp at time zone 'UTC'"
    ),
)

DAILY_SALES_SUMMARY: Final = LakeTable(
    namespace="marts",
    name="daily_sales_summary",
    columns=(
        ("store_id", "int"),
        ("product_id", "int"),
        ("business_date", "date"),
        ("product", "string"),
        ("scan_count", "long"),
        ("total_quantity", "long"),
        ("total_sales", MONEY),
    ),
    day_column="business_date",
    view_columns=(("sale_date", "business_date"),),
    select=(
        "select store_id, product_id, business_date, product, scan_count, total_quantity, "
        "total_sales from marts.daily_sales_summary where business_date = {day}::date"
    ),
)

SUGGESTIONS_DAILY: Final = LakeTable(
    namespace="marts",
    name="suggestions_daily",
    columns=(
        ("store_day_key", "string"),
        ("order_date", "date"),
        ("store_id", "int"),
        ("order_count", "long"),
        ("suggested_order_count", "long"),
        ("suggested_line_count", "long"),
        ("suggested_quantity", "long"),
        ("suggested_gross_revenue", MONEY),
        ("suggestion_discount", MONEY),
        ("suggested_net_revenue", MONEY),
        ("suggestion_rate_pct", "decimal(9,2)"),
    ),
    day_column="order_date",
    select=(
        "select store_day_key, order_date, store_id, order_count, suggested_order_count, "
        "suggested_line_count, suggested_quantity, suggested_gross_revenue, "
        "suggestion_discount, suggested_net_revenue, suggestion_rate_pct "
        "from marts.suggestions_daily where order_date = {day}::date"
    ),
)

#: Every table of the lakehouse, raw first.
TABLES: Final = (POS_SCANS, DAILY_SALES_SUMMARY, SUGGESTIONS_DAILY)
MART_TABLES: Final = (DAILY_SALES_SUMMARY, SUGGESTIONS_DAILY)
RAW_TABLES: Final = (POS_SCANS,)


def by_name(names: list[str] | tuple[str, ...]) -> tuple[LakeTable, ...]:
    """The tables named (``raw.pos_scans`` or ``pos_scans``), in ``TABLES`` order."""
    wanted = set(names)
    found = tuple(t for t in TABLES if t.identifier in wanted or t.name in wanted)
    known = {n for t in found for n in (t.identifier, t.name)}
    if unknown := sorted(wanted - known):
        raise ValueError(
            f"unknown lakehouse tables {unknown}; known: {[t.identifier for t in TABLES]}"
        )
    return found
