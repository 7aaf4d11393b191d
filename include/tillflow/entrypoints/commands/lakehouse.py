"""`tillflow sql "QUERY"` (DuckDB over the lakehouse's Iceberg tables) and `tillflow lakehouse
export|tables` (the export of warehouse days, the tables' row counts)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from tillflow import config
from tillflow.config import Settings
from tillflow.entrypoints.commands import CommandTree

SQL_EPILOG = """\
Tables (views named like the warehouse): raw.pos_scans (also raw.pos_transactions, with
event_time = scanned_at), marts.daily_sales_summary (with sale_date = business_date),
marts.suggestions_daily.

Examples:
  tillflow sql "SELECT store_id, sale_date, SUM(total_sales) as revenue
                FROM marts.daily_sales_summary GROUP BY store_id, sale_date
                ORDER BY sale_date DESC"
  tillflow sql "SELECT * FROM raw.pos_transactions
                WHERE event_time > current_date - interval '1' day"
"""


def _cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.adapters.iceberg import settings_catalog
    from tillflow.jobs.lakehouse import query

    con = query.connect(settings_catalog(settings))
    try:
        result = query.run(con, args.query)
    except query.QueryError as exc:
        print(f"tillflow sql: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    print(query.format_table(result, max_rows=args.max_rows))
    return 0


def _plan_days(args: argparse.Namespace) -> list[date]:
    from tillflow.jobs.lakehouse.days import day_range

    if args.day:
        return [date.fromisoformat(args.day)]
    if not (args.start and args.end):
        raise ValueError("give --day D, or --from A and --to B")
    return day_range(date.fromisoformat(args.start), date.fromisoformat(args.end))


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from tillflow.adapters.iceberg import settings_catalog
    from tillflow.jobs.lakehouse import days, export, tables

    plan = days.for_days(_plan_days(args))
    chosen = tables.by_name(args.tables) if args.tables else None
    dsn = settings.postgres.dsn(args.database, settings.postgres.dbt)
    t0 = time.monotonic()
    done = export.export(
        dsn,
        settings_catalog(settings),
        plan,
        tables=chosen,
        chunk_rows=args.chunk_rows,
        progress=lambda r: print(r.line(), flush=True),
    )
    written = [r for r in done if r.written]
    rows = sum(r.rows for r in written)
    seconds = time.monotonic() - t0
    print(
        f"lakehouse export: {len(written)} of {len(done)} table-days written, {rows:,} rows "
        f"in {seconds:.1f}s ({settings.lakehouse.warehouse_uri})"
    )
    return 0


def _cmd_tables(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.adapters.iceberg import row_counts, settings_catalog
    from tillflow.jobs.lakehouse.tables import TABLES

    counts = row_counts(settings_catalog(settings), [t.identifier for t in TABLES])
    for name, count in counts.items():
        print(f"{name:<28} {'not exported yet' if count is None else f'{count:>12,} rows'}")
    return 0


def register(tree: CommandTree) -> None:
    p = tree.root.add_parser(
        "sql",
        help="run a SQL query (DuckDB) over the lakehouse's Iceberg tables",
        description="Runs QUERY with DuckDB over the Iceberg tables of the lakehouse "
        "(`tillflow lakehouse export` fills them; the lakehouse DAG after each daily ELT run). "
        "A bad query exits 2 with DuckDB's message.",
        epilog=SQL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", help="the SQL query (DuckDB dialect)")
    p.add_argument("--max-rows", type=int, default=100, help="rows printed (default %(default)s)")
    p.set_defaults(func=_cmd_sql)

    group = tree.group("lakehouse", "the Iceberg lakehouse: export warehouse days, list tables")
    q = group.add_parser(
        "export",
        help="export days of the warehouse to the Iceberg tables (idempotent per day)",
        description="For each day: raw.pos_scans of that UTC day, marts.daily_sales_summary of "
        "that business date and marts.suggestions_daily of that order date replace the day's "
        "partition of their Iceberg table, unless the day's last export copied the same rows "
        "(then nothing is written).",
    )
    q.add_argument("--day", help="one day, YYYY-MM-DD")
    q.add_argument("--from", dest="start", help="first day, YYYY-MM-DD")
    q.add_argument("--to", dest="end", help="last day (included), YYYY-MM-DD")
    q.add_argument(
        "--tables",
        nargs="+",
        help="only these tables (raw.pos_scans, marts.daily_sales_summary, ...)",
    )
    q.add_argument("--database", default=config.DB_WAREHOUSE, help="warehouse database")
    q.add_argument(
        "--chunk-rows", type=int, default=1_000_000, help="rows per written chunk (memory bound)"
    )
    q.set_defaults(func=_cmd_export)
    q = group.add_parser("tables", help="each Iceberg table's row count (current snapshot)")
    q.set_defaults(func=_cmd_tables)
