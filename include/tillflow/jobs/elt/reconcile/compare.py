"""The warehouse's sums per store and day, their differences from the oracle's, and the table."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from tillflow.jobs.elt.reconcile.days import DayRule

#: The day column of the daily sales mart and serving view (the store-local business date once
#: the marts follow that rule; ``sale_date``, the UTC date, before). One name to switch.
MART_DATE_COLUMN: Final = "business_date"
#: The day rule each possible day column means.
DAY_RULE_OF_COLUMN: Final[dict[str, DayRule]] = {"business_date": "local", "sale_date": "utc"}
#: (label, relation) compared: the batch mart, and the serving view summed over its layers.
RELATIONS: Final = (
    ("marts", "marts.daily_sales_summary"),
    ("serving", "serving.daily_sales_summary"),
)


def mart_day_rule() -> DayRule:
    """The day rule of the marts' day column: what the oracle sums on."""
    return DAY_RULE_OF_COLUMN[MART_DATE_COLUMN]


Key = tuple[int, str]  # (store_id, ISO day)
Sums = tuple[int, int, int]  # (scan count, quantity, sales cents)


@dataclass(frozen=True)
class Difference:
    relation: str
    store_id: int
    day: str
    expected: Sums
    actual: Sums


def differences(
    relation: str, expected: dict[Key, Sums], actual: dict[Key, Sums], days: set[str]
) -> list[Difference]:
    """Every (store, day) of ``days`` where the sums differ (a missing side counts as zeros)."""
    zero: Sums = (0, 0, 0)
    keys = {k for k in (*expected, *actual) if k[1] in days}
    out = [
        Difference(relation, k[0], k[1], expected.get(k, zero), actual.get(k, zero))
        for k in keys
        if expected.get(k, zero) != actual.get(k, zero)
    ]
    return sorted(out, key=lambda d: (d.relation, d.day, d.store_id))


def cents(value: Decimal | int | None) -> int:
    """A numeric sum from the warehouse in cents; raises if it is not whole cents."""
    amount = Decimal(value or 0) * 100
    if amount != amount.to_integral_value():
        raise ValueError(f"not a whole number of cents: {value}")
    return int(amount)


def money(value: int) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100:,}.{abs(value) % 100:02d}"


def table(diffs: list[Difference], limit: int = 50) -> list[str]:
    """The differences as aligned text lines (the first ``limit``, then a count of the rest)."""
    head = (
        f"{'relation':<8} {'store':>6} {'day':<10} {'scans exp':>10} {'scans act':>10} "
        f"{'qty exp':>9} {'qty act':>9} {'sales exp':>14} {'sales act':>14} {'sales diff':>12}"
    )
    lines = [head, "-" * len(head)]
    for d in diffs[:limit]:
        lines.append(
            f"{d.relation:<8} {d.store_id:>6} {d.day:<10} {d.expected[0]:>10,} {d.actual[0]:>10,} "
            f"{d.expected[1]:>9,} {d.actual[1]:>9,} {money(d.expected[2]):>14} "
            f"{money(d.actual[2]):>14} {money(d.actual[2] - d.expected[2]):>12}"
        )
    if len(diffs) > limit:
        lines.append(f"... and {len(diffs) - limit} more")
    return lines


def read_sums(
    dsn: str, relation: str, first_day: str, last_day: str, date_column: str = MART_DATE_COLUMN
) -> dict[Key, Sums]:
    """Sum of scan_count, total_quantity, total_sales per (store_id, day) of a relation (all
    layers of a serving view together) for the days ``first_day .. last_day``."""
    import psycopg
    from psycopg import sql

    schema, name = relation.split(".")
    query = sql.SQL(
        "select store_id, {day}::date, sum(scan_count), sum(total_quantity), sum(total_sales)"
        " from {rel} where {day} between %s and %s group by 1, 2"
    ).format(day=sql.Identifier(date_column), rel=sql.Identifier(schema, name))
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(query, (first_day, last_day)).fetchall()
    return {
        (int(r[0]), r[1].isoformat()): (int(r[2] or 0), int(r[3] or 0), cents(r[4])) for r in rows
    }
