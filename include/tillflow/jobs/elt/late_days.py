"""Late data: which earlier days received events since they were last built (by arrival).

Offline tills upload scans 2-48 h late, the suggestion catch-up adds order lines with their
original ``ordered_at``, and a day the schedule skipped was never built. The daily run asks this
module which days of its look-back need building again, and why, then records with each build the
*arrival cutoff* it saw: every raw row that arrived before the cutoff is in that build.

The cutoff is not simply "now": a row's ``ingested_at`` is its inserting transaction's start, and
a transaction that began earlier may still be open (its rows invisible to the build). So the cutoff
is the start of the oldest write transaction still open in the warehouse, or now when none is.
A row that arrived after the cutoff makes its day late again; at worst a day is rebuilt once more
than needed, never once too few.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

#: How many days before the run's day the daily ELT looks for late events (default).
DEFAULT_LOOKBACK_DAYS = 7

CUTOFF_SQL = """
select least(now(), coalesce(min(xact_start), now()))
from pg_stat_activity
where datname = current_database() and backend_xid is not null and pid <> pg_backend_pid()
"""

# Per day of the look-back: the arrival cutoff of its latest build (null: never built), then
# the rows that arrived at or after it. A void reaches back one day (it cancels a scan minutes
# earlier, possibly before midnight), so a late void marks the day before too.
LATE_SQL = """
with days as (
    select d::date as day
    from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
),
built as (
    select
        days.day,
        latest.built_at is not null as was_built,
        latest.cutoff
    from days
    left join lateral (
        select b.built_at, {cutoff_column} as cutoff from core.batch_intervals as b
        where b.interval_start <= days.day and b.interval_end > days.day
        order by b.built_at desc limit 1
    ) as latest on true
),
arrived_scans as (
    select
        (scanned_at at time zone 'UTC')::date as day,
        bool_or(quantity = 0) as has_voids,
        count(*) as n
    from raw.pos_scans
    where ingested_at >= %(min_cutoff)s and scanned_at >= %(from)s and scanned_at < %(to)s
    group by 1
),
arrived_orders as (
    select (ordered_at at time zone 'UTC')::date as day, count(*) as n
    from raw.orders
    where ingested_at >= %(min_cutoff)s and ordered_at >= %(from)s and ordered_at < %(to)s
    group by 1
)
select
    built.day,
    built.was_built,
    built.cutoff,
    coalesce((
        select sum(s.n) from arrived_scans as s
        where (s.day = built.day or (s.has_voids and s.day = built.day + 1))
    ), 0) as candidate_scans,
    coalesce((select o.n from arrived_orders as o where o.day = built.day), 0) as candidate_orders,
    exists (
        select 1 from raw.pos_scans as r
        where r.scanned_at >= built.day and r.scanned_at < built.day + 1
    ) or exists (
        select 1 from raw.orders as o
        where o.ordered_at >= built.day and o.ordered_at < built.day + 1
    ) as has_rows
from built
order by built.day
"""

# The exact count for one built day, against its own cutoff (the query above used the smallest).
EXACT_SQL = """
select
    (select count(*) from raw.pos_scans
     where ingested_at >= %(cutoff)s
       and ((scanned_at >= %(day)s and scanned_at < %(next)s)
            or (quantity = 0 and scanned_at >= %(next)s and scanned_at < %(after)s))),
    (select count(*) from raw.orders
     where ingested_at >= %(cutoff)s and ordered_at >= %(day)s and ordered_at < %(next)s)
"""


@dataclass(frozen=True)
class LateDay:
    """A day of the look-back to build again, and why."""

    day: date
    reason: str
    scans: int = 0
    orders: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "reason": self.reason,
            "scans": self.scans,
            "orders": self.orders,
        }


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def arrival_cutoff(dsn: str) -> datetime:
    """What a build starting now is guaranteed to contain: rows that arrived before this instant."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(CUTOFF_SQL).fetchone()
    assert row is not None
    cutoff: datetime = row[0]
    return cutoff


def find_late_days(
    dsn: str, day: date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> list[LateDay]:
    """The days in [day - lookback_days, day) that a run for ``day`` should build again."""
    import psycopg

    if lookback_days <= 0:
        return []
    first = day - timedelta(days=lookback_days)
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        conn.execute("set time zone 'UTC'")  # days compare with instants as UTC days
        if conn.execute("select to_regclass('core.batch_intervals')").fetchone() == (None,):
            return []  # nothing was ever built: the run's own build is the first
        # Builds made before the cutoff was recorded vouch for nothing (the column is missing
        # until the first build with it).
        has_cutoffs = conn.execute(
            "select 1 from information_schema.columns where table_schema = 'core'"
            " and table_name = 'batch_intervals' and column_name = 'arrivals_through'"
        ).fetchone()
        cutoff_column = "b.arrivals_through" if has_cutoffs else "null::timestamptz"
        min_cutoff = _midnight(first)
        if has_cutoffs:
            row = conn.execute(
                "select min(arrivals_through) from core.batch_intervals"
                " where interval_end > %s and interval_start < %s",
                (_midnight(first), _midnight(day)),
            ).fetchone()
            min_cutoff = (row[0] if row else None) or min_cutoff
        params = {
            "first": first,
            "last": day - timedelta(days=1),
            "min_cutoff": min_cutoff,
            "from": _midnight(first),
            "to": _midnight(day) + timedelta(days=1),
        }
        late: list[LateDay] = []
        query = LATE_SQL.replace("{cutoff_column}", cutoff_column)
        for d, was_built, cutoff, scans, orders, has_rows in conn.execute(query, params).fetchall():
            if cutoff is None:
                if has_rows:
                    late.append(
                        LateDay(
                            d, "built without an arrival cutoff" if was_built else "never built"
                        )
                    )
                continue
            if scans == 0 and orders == 0:
                continue
            exact = conn.execute(
                EXACT_SQL,
                {
                    "cutoff": cutoff,
                    "day": _midnight(d),
                    "next": _midnight(d) + timedelta(days=1),
                    "after": _midnight(d) + timedelta(days=2),
                },
            ).fetchone()
            assert exact is not None
            if exact[0] or exact[1]:
                late.append(
                    LateDay(
                        d,
                        f"events arrived since its build (cutoff {cutoff.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z)",
                        exact[0],
                        exact[1],
                    )
                )
    return late
