"""`tillflow elt ...`: the warehouse's tools (fixtures, dbt manifest/build/docs, GX gates, hashes,
the sales marts' oracle)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta

from tillflow import config
from tillflow.config import Settings
from tillflow.domain.generation import DEFAULT_SEED
from tillflow.entrypoints.commands import CommandTree
from tillflow.jobs.elt.reconcile.prices import VALID_FROM_CHOICES


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
    elif args.elt_command == "reconcile":
        return _reconcile(args, settings)
    elif args.elt_command == "hashes":
        for name, digest in marts.mart_hashes(_dbt_dsn(settings, db)).items():
            print(f"{name:<28} {digest}")
    return 0


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.entrypoints.commands.generate import history_window
    from tillflow.jobs.elt.reconcile import compare
    from tillflow.jobs.elt.reconcile.expected import OracleStats
    from tillflow.jobs.elt.reconcile.oracle import reconcile

    start, end = history_window(args.start, args.end)

    def progress(hour: datetime, s: OracleStats) -> None:
        print(
            f"reconcile: {s.hours} h summed (last: {hour:%Y-%m-%d %H}:00Z), {s.events:,} events, "
            f"{s.sales:,} sales, {s.events_per_second:,.0f} events/s",
            flush=True,
        )

    report = reconcile(
        settings.postgres.dsn(args.oltp_database, settings.postgres.api),
        _dbt_dsn(settings, args.database),
        args.seed,
        start,
        end,
        stores=args.stores,
        bad_share=args.bad_share,
        progress=progress,
        price_valid_from=args.price_valid_from,
        compare_now=not args.rebuild,
    )
    watched = None
    if args.rebuild and report.days:
        from tillflow.jobs.elt.reconcile.oracle import compare_warehouse
        from tillflow.jobs.elt.reconcile.watch import build_once, has_serving_view, rebuild_watched
        from tillflow.jobs.lakehouse.days import day_range

        first, last = date.fromisoformat(report.days[0]), date.fromisoformat(report.days[-1])
        dsn = _dbt_dsn(settings, args.database)
        if not has_serving_view(dsn):
            print(f"reconcile: no serving view yet: building {first} .. {last + timedelta(1)}")
            build_once(dsn, first, last + timedelta(days=1))
        watched = rebuild_watched(
            dsn,
            report.expected,
            report.days,
            day_range(first, last + timedelta(days=1)),
            every=args.sample_seconds,
        )
        report.differences = compare_warehouse(dsn, report.expected, report.days)
    s = report.stats
    print(
        f"reconcile: {s.events:,} events + {s.landed_bad:,} late ({s.dead_letters:,} dead "
        f"letters), {s.sales:,} sales, {s.voided:,} voided, in {s.seconds:.1f}s "
        f"({s.events_per_second:,.0f} events/s)"
    )
    days = f"{report.days[0]} .. {report.days[-1]}" if report.days else "none"
    relations = ", ".join(r for _, r in compare.RELATIONS)
    print(f"reconcile: {report.store_days:,} store-days over days {days} vs {relations}")
    if watched is not None:
        w = watched
        print(
            f"reconcile: serving sampled {w.samples} times (every {args.sample_seconds:g}s) over "
            f"{len(w.runs)} runs, one failed part way: {len(w.differing)} samples differed, "
            f"{len(w.errors)} failed"
        )
        if not w.ok:
            print("\n".join(compare.table(w.first_difference)))
            print(f"reconcile: serving FAILED: differing at {w.differing[:10]}, {w.errors[:3]}")
            return 1
    if report.ok:
        print("reconcile: OK, no difference")
        return 0
    print("\n".join(compare.table(report.differences)))
    print(f"reconcile: FAILED, {len(report.differences)} differences")
    return 1


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
    q = sub.add_parser(
        "reconcile",
        help="compare the daily sales mart and serving view with sales regenerated from the seed",
        description="An oracle for the POS sales marts. Regenerates the scan events of a window "
        "exactly as `tillflow generate history` made them (same --seed, --stores, --bad-share; "
        "late events land, malformed ones are dead letters), prices them from the seeded prices "
        "and the churn slots applied in the OLTP database (generator_runs; never from warehouse "
        "tables), sums them per store and business day, and compares marts.daily_sales_summary "
        "and serving.daily_sales_summary (all layers) with those sums to the cent. Prints a "
        "table of the differences; exits 1 if there is any. POS channel only: orders come "
        "through the API and cannot be regenerated. The warehouse must hold the scans of this "
        "window only, on the days compared (a controlled run).",
        epilog="Example: tillflow elt --database tillflow_wt_x reconcile --from 2026-03-08 "
        "--to 2026-03-08 --stores 3 --bad-share 0.01",
    )
    q.add_argument(
        "--from",
        dest="start",
        required=True,
        help="first UTC day (YYYY-MM-DD) or start instant of the generated window (included)",
    )
    q.add_argument(
        "--to",
        dest="end",
        required=True,
        help="last UTC day (included) or end instant (excluded), as given to generate history",
    )
    q.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed (default %(default)s)")
    q.add_argument("--stores", type=int, default=None, metavar="N", help="first N stores (all)")
    q.add_argument(
        "--bad-share", type=float, default=0.0, metavar="P", help="as generated (default 0)"
    )
    q.add_argument(
        "--oltp-database",
        default=config.DB_OLTP,
        help="OLTP database holding generator_runs and item_master (default %(default)s)",
    )
    q.add_argument(
        "--rebuild",
        action="store_true",
        help="first build the window's UTC days again (a run that fails part way, then one "
        "good run per day) while the serving view is compared with the oracle every "
        "--sample-seconds; exits 1 if any sample differs",
    )
    q.add_argument(
        "--sample-seconds",
        type=float,
        default=1.0,
        help="with --rebuild: seconds between samples of the serving view (default 1)",
    )
    q.add_argument(
        "--price-valid-from",
        choices=VALID_FROM_CHOICES,
        default="auto",
        help="a price change's valid-from instant: its transaction's commit time (as CDC), "
        "generator_runs.applied_at, or auto = commit when track_commit_timestamp is on",
    )
    p.set_defaults(func=_cmd)
