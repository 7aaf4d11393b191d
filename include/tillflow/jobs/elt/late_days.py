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

# Per day of the look-back: the arrival cutoff of its latest build (null: never built, or built
# before cutoffs were recorded: to_jsonb reads a column the table may not have yet), and the
# rows that arrived at or after that day's own cutoff, in one pass over the recent arrivals (the
# BRIN index on ingested_at). A void reaches back one day (it cancels a scan minutes earlier,
# possibly before midnight), so a late void marks the day before too.
LATE_SQL = """
with days as (
    select d::date as day
    from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as d
),
built as (
    select days.day, latest.built_at is not null as was_built, latest.cutoff
    from days
    left join lateral (
        select b.built_at, (to_jsonb(b) ->> 'arrivals_through')::timestamptz as cutoff
        from core.batch_intervals as b
        where b.interval_start <= days.day and b.interval_end > days.day
        order by b.built_at desc limit 1
    ) as latest on true
),
late_scans as (
    select built.day, count(*) as n
    from raw.pos_scans as s
    inner join built
        on s.ingested_at >= built.cutoff
        and ((s.scanned_at at time zone 'UTC')::date = built.day
             or (s.quantity = 0 and (s.scanned_at at time zone 'UTC')::date = built.day + 1))
    where s.ingested_at >= %(min_cutoff)s and s.scanned_at >= %(from)s and s.scanned_at < %(to)s
    group by built.day
),
late_orders as (
    select built.day, count(*) as n
    from raw.orders as o
    inner join built
        on o.ingested_at >= built.cutoff and (o.ordered_at at time zone 'UTC')::date = built.day
    where o.ingested_at >= %(min_cutoff)s and o.ordered_at >= %(from)s and o.ordered_at < %(to)s
    group by built.day
)
select
    built.day,
    built.was_built,
    built.cutoff,
    coalesce(late_scans.n, 0) as scans,
    coalesce(late_orders.n, 0) as orders,
    exists (
        select 1 from raw.pos_scans as r
        where r.scanned_at >= built.day and r.scanned_at < built.day + 1
    ) or exists (
        select 1 from raw.orders as r
        where r.ordered_at >= built.day and r.ordered_at < built.day + 1
    ) as has_rows
from built
left join late_scans on late_scans.day = built.day
left join late_orders on late_orders.day = built.day
order by built.day
"""

# The batch ledger's clean entries, of every UTC day, move up to the run's cutoff when no raw row
# of theirs arrived in between: the facts and marts then hold exactly the rows that arrived before
# the new cutoff too, and the serving views' speed side (which reads the arrivals since the oldest
# cutoff the ledger covers) reads the arrivals since the last run, not every arrival since the
# first build of a day. Not only the look-back's days: an older day's entry that kept its cutoff
# would hold that oldest cutoff back for good (measured: 7.8 M arrivals read per serving query
# three test days on). One pass over the arrivals since the oldest cutoff (BRIN on ingested_at):
# the latest arrival per fact and UTC day; an entry is clean when that is before its cutoff.
_LEDGERS = ("fact_batches", "mart_batches")

# Moves one ledger's clean entries (a data-modifying CTE per ledger table, one statement).
_MOVE = """
moved_{table} as (
    update core.{table} as e set arrivals_through = %(cutoff)s
    where e.arrivals_through < %(cutoff)s
        and not exists (
            select 1 from latest as l
            where l.fact = e.fact and l.day = e.sale_date and l.at >= e.arrivals_through
        )
    returning 1
)"""

ADVANCE_SQL = (
    """
with since as (
    select least(%(cutoff)s, """
    + ", ".join(f"(select min(arrivals_through) from core.{t})" for t in _LEDGERS)
    + """) as t
),
scan_arrivals as (
    select
        (scanned_at at time zone 'UTC')::date as day,
        max(ingested_at) as at,
        max(ingested_at) filter (where quantity = 0) as void_at
    from raw.pos_scans
    where ingested_at >= (select t from since) and ingested_at < %(cutoff)s
    group by 1
),
-- Per fact and UTC day, the latest arrival its builds would hold: a scan day's own rows and the
-- next day's voids (its sales are not the day's: fct_sales reads only voids past its day); an
-- order day's own events.
latest as (
    select 'fct_sales' as fact, day, max(at) as at
    from (
        select day, at from scan_arrivals
        union all
        select day - 1, void_at from scan_arrivals where void_at is not null
    ) as d
    group by day
    union all
    select 'fct_order_lines', (ordered_at at time zone 'UTC')::date, max(ingested_at)
    from raw.orders
    where ingested_at >= (select t from since) and ingested_at < %(cutoff)s
    group by 2
),"""
    + ",".join(_MOVE.format(table=t) for t in _LEDGERS)
    + "\nselect "
    + ", ".join(f"(select count(*) from moved_{t})" for t in _LEDGERS)
)

# Days older than the look-back whose entries are still behind the cutoff after the move: events
# arrived for them since their build, and the daily run does not build them again.
STALE_SQL = """
select distinct sale_date from core.fact_batches
where arrivals_through < %(cutoff)s and sale_date < %(first)s
order by sale_date
"""

MIN_CUTOFF_SQL = """
select min((to_jsonb(b) ->> 'arrivals_through')::timestamptz) from core.batch_intervals as b
where b.interval_end > %s and b.interval_start < %s
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


def midnight(day: date) -> datetime:
    """The UTC instant a UTC day starts."""
    return datetime.combine(day, time(), UTC)


def arrival_cutoff(dsn: str) -> datetime:
    """What a build starting now is guaranteed to contain: rows that arrived before this instant."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(CUTOFF_SQL).fetchone()
    assert row is not None
    cutoff: datetime = row[0]
    return cutoff


@dataclass(frozen=True)
class LedgerAdvance:
    """What :func:`advance_ledger` moved, and the older days it could not move."""

    facts: int
    marts: int
    #: Days before the look-back that received events since their build: the serving views
    #: count those events in their speed side until the day is built again, and read every
    #: arrival since that build's cutoff meanwhile.
    stale_days: tuple[date, ...] = ()


def advance_ledger(
    dsn: str, cutoff: datetime, day: date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> LedgerAdvance:
    """Move the batch ledger's clean entries, of every day, up to ``cutoff``, an arrival cutoff
    taken before this call (:func:`arrival_cutoff`): every row that arrived before it is
    committed, so "no row arrived in between" is known. A late entry keeps its cutoff (the
    serving views stay exact); the look-back's late days are built again by the run, and the
    older ones are returned as ``stale_days``."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as conn:
        tables = conn.execute(
            "select to_regclass('core.fact_batches'), to_regclass('core.mart_batches')"
        ).fetchone()
        if tables is None or None in tables:
            return LedgerAdvance(0, 0)  # nothing was ever built
        row = conn.execute(ADVANCE_SQL, {"cutoff": cutoff}).fetchone()
        first = day - timedelta(days=max(lookback_days, 0))
        stale = conn.execute(STALE_SQL, {"cutoff": cutoff, "first": first}).fetchall()
    assert row is not None
    return LedgerAdvance(int(row[0]), int(row[1]), tuple(d for (d,) in stale))


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
        row = conn.execute(MIN_CUTOFF_SQL, (midnight(first), midnight(day))).fetchone()
        params = {
            "first": first,
            "last": day - timedelta(days=1),
            "min_cutoff": (row[0] if row else None) or midnight(first),
            "from": midnight(first),
            "to": midnight(day) + timedelta(days=1),
        }
        rows = conn.execute(LATE_SQL, params).fetchall()
    late: list[LateDay] = []
    for d, was_built, cutoff, scans, orders, has_rows in rows:
        if cutoff is None:
            if has_rows:
                why = "built without an arrival cutoff" if was_built else "never built"
                late.append(LateDay(d, why))
        elif scans or orders:
            why = f"events arrived since its build (cutoff {cutoff.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z)"
            late.append(LateDay(d, why, scans, orders))
    return late
