"""`tillflow elt ...`: the warehouse's tools (fixtures, dbt manifest/build/docs, GX gates, hashes)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta

from tillflow import config
from tillflow.config import Settings
from tillflow.entrypoints.commands import CommandTree


def _day(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _interval(args: argparse.Namespace) -> tuple[datetime, datetime]:
    start = _day(args.day)
    return start, start + timedelta(days=args.days)


def _dbt_dsn(settings: Settings, database: str) -> str:
    return settings.postgres.dsn(database, settings.postgres.dbt)


def _cmd(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.adapters.warehouse import prepare_warehouse
    from tillflow.jobs.elt import dbt, fixtures, gates, marts

    db = args.database
    if args.elt_command == "fixtures":
        admin = prepare_warehouse(settings, db)
        fixtures.clear(admin)
        print(json.dumps(fixtures.load(admin)))
    elif args.elt_command == "manifest":
        print(dbt.parse_manifest(_dbt_dsn(settings, db)))
    elif args.elt_command == "build":
        run = dbt.build_interval(_dbt_dsn(settings, db), *_interval(args))
        print(f"dbt build {args.day} (+{args.days}d): {run.seconds:.1f}s")
    elif args.elt_command == "docs":
        print(dbt.generate_docs(_dbt_dsn(settings, db), dbt.docs_dir(settings)))
    elif args.elt_command == "gate":
        start, end = _interval(args)
        checks = (
            gates.raw_checks(start, end) if args.which == "raw" else gates.mart_checks(start, end)
        )
        report = gates.run_gate(f"{args.which}_gate", checks, _dbt_dsn(settings, db), (start, end))
        print(f"{report.gate}: {'passed' if report.success else 'FAILED'} ({len(report.results)})")
    elif args.elt_command == "backfill-check":
        from tillflow.entrypoints import backfill_check as backfill

        days = backfill.day_range(date.fromisoformat(args.start), date.fromisoformat(args.end))
        rerun = date.fromisoformat(args.rerun) if args.rerun else days[len(days) // 2]
        if args.fixtures:
            admin = prepare_warehouse(settings, db)
            print(f"fixture rows in {db}: {json.dumps(fixtures.load(admin))}")
        t0 = time.monotonic()
        code = backfill.check(settings, days, rerun, _dbt_dsn(settings, db))
        print(f"backfill-check wall time {time.monotonic() - t0:.0f}s")
        return code
    elif args.elt_command == "late-days":
        from tillflow.jobs.elt import late_days

        found = late_days.find_late_days(
            _dbt_dsn(settings, db), date.fromisoformat(args.day), args.lookback
        )
        print(f"late days before {args.day} (look-back {args.lookback}): {len(found)}")
        for d in found:
            print(f"  {d.day}  scans {d.scans:>9,}  orders {d.orders:>7,}  {d.reason}")
    elif args.elt_command == "hashes":
        for name, digest in marts.mart_hashes(_dbt_dsn(settings, db)).items():
            print(f"{name:<28} {digest}")
    return 0


def register(tree: CommandTree) -> None:
    p = tree.root.add_parser("elt", help="warehouse tools: fixtures, dbt, GX gates, mart hashes")
    p.add_argument("--database", default=config.DB_WAREHOUSE, help="warehouse database")
    sub = p.add_subparsers(dest="elt_command", required=True, metavar="ELT_COMMAND")
    sub.add_parser("fixtures", help="migrate raw and (re)load the deterministic fixture rows")
    sub.add_parser("manifest", help="dbt parse: refresh dbt_project/target/manifest.json")
    sub.add_parser("docs", help="generate the dbt docs site for the Cosmos docs plugin")
    sub.add_parser("hashes", help="a hash of each mart's ordered rows")
    for name, text in (("build", "dbt build for UTC days"), ("gate", "run a GX gate for UTC days")):
        q = sub.add_parser(name, help=text)
        if name == "gate":
            q.add_argument("which", choices=["raw", "marts"])
        q.add_argument("day", help="first UTC day, YYYY-MM-DD")
        q.add_argument("--days", type=int, default=1, help="number of days (default 1)")
    q = sub.add_parser(
        "late-days",
        help="the earlier days a daily run of DAY would build again, and why",
        description="Which days of the look-back before DAY received events since they were "
        "last built (by arrival time, against each build's arrival cutoff), or hold events but "
        "were never built: what the daily DAG's rebuild_late_days task would rebuild.",
    )
    q.add_argument("day", help="the run's UTC day, YYYY-MM-DD")
    q.add_argument("--lookback", type=int, default=7, help="days back (default %(default)s)")
    q = sub.add_parser(
        "backfill-check",
        help="airflow backfill create over days, re-run one, compare mart hashes",
        description="Runs `airflow backfill create` for tillflow_elt_daily through the running "
        "scheduler (conf skip_ingestion_wait), waits for the runs, hashes every mart, re-runs "
        "one day (--reprocess-behavior completed) and hashes again. The DAG writes to the "
        "database of the postgres_warehouse connection: --database must name the same one.",
    )
    q.add_argument("--from", dest="start", required=True, help="first UTC day, YYYY-MM-DD")
    q.add_argument("--to", dest="end", required=True, help="last UTC day (inclusive)")
    q.add_argument("--rerun", help="the day to re-run (default: the middle day)")
    q.add_argument(
        "--fixtures",
        action="store_true",
        help="load the raw fixture rows first (days 2026-03-02..04)",
    )
    p.set_defaults(func=_cmd)
