"""`tillflow bench ...`: the benchmarks and drills, registered only when `tillflow bench` runs.

Each command prints its figures and the limits they are judged against, measured in the same run.
Shipped code never imports this package (an import contract in pyproject.toml); the CLI loads
this module only for `tillflow bench`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.config import Settings
from tillflow.domain.generation import DEFAULT_SEED
from tillflow.entrypoints.commands import CommandTree
from tillflow_bench import (
    astro_parity,
    broker_budget,
    dags,
    day,
    elt_dag,
    fetch_depth,
    fetch_wait,
    idle,
    memory,
    soak,
    stack_context,
)

#: The group this module adds to `tillflow` (the CLI loads the module only when it is named).
GROUPS = {
    "bench": "benchmarks and drills measured on this machine (`tillflow bench --help`)",
    "drill": "fault drills of the whole chain (`tillflow drill --help`)",
}


def _bench_generator(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench.generators import bench_generator

    print(f"bench: ~{args.events:,} scans per measurement into topic {args.topic}", flush=True)
    result = bench_generator(
        settings.kafka.connection, args.topic, args.events, args.seed, keep_topic=args.keep_topic
    )
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print("\n".join(result.lines()))
    return 0


def _runs_summary(what: str, verdicts: list[bool | None]) -> int:
    """One line over N consecutive runs; 0 when every run met the targets."""
    met = sum(v is True for v in verdicts)
    marks = " ".join("ok" if v else ("n/a" if v is None else "MISSED") for v in verdicts)
    print(f"{what}: {met} of {len(verdicts)} consecutive runs met the targets ({marks})")
    return 0 if met == len(verdicts) else 1


def _judged_runs(
    args: argparse.Namespace, settings: Settings, what: str, run_once: Callable[[], bool | None]
) -> int:
    """``args.runs`` consecutive runs of ``run_once`` (its verdict) beside the stack as
    ``stack_context.bench_stack`` leaves it, then one summary line."""
    verdicts: list[bool | None] = []
    with stack_context.bench_stack(settings, args.bare, args.baseline_seconds):
        for i in range(args.runs):
            if args.runs > 1:
                print(f"--- run {i + 1} of {args.runs} (load {os.getloadavg()[0]:.2f})")
            verdicts.append(run_once())
    return _runs_summary(what, verdicts)


def _bench_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import ingest as bench

    def run_once() -> bool | None:
        report = bench.run(
            settings,
            events_count=args.events,
            pg_rows=args.pg_rows,
            latency_seconds=args.latency_seconds,
            latency_rate=args.rate,
            triggers=args.trigger_seconds,
            sink_mode=args.sink_mode,
            max_offsets_per_trigger=args.max_offsets_per_trigger,
        )
        if args.json:
            print(json.dumps(report, default=str))
        return bench.meets_freshness(report)

    what = (
        f"freshness at the {bench.DEFAULT_TRIGGER_SECONDS:g} s trigger (p95 <= "
        f"{bench.FRESHNESS_P95_S:g} s, p99 <= {bench.FRESHNESS_P99_S:g} s)"
    )
    return _judged_runs(args, settings, what, run_once)


def _bench_ingest_fault(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import ingest as bench

    bench.ensure_schema(settings)
    result: Any = bench.fault_drill(
        settings, count=args.events, kills=args.kills, seed=args.seed, keep=args.keep
    )
    ok = result.missing == 0 and result.duplicated == 0 and result.landed_rows == result.produced
    print(
        f"fault drill: produced {result.produced:,}, kill -9 x{result.kills}, "
        f"raw rows {result.landed_rows:,}, distinct ids {result.distinct_ids:,}, "
        f"missing {result.missing}, duplicated {result.duplicated} in {result.seconds:.0f}s "
        f"-> {'OK' if ok else 'FAILED'}"
    )
    return 0 if ok else 1


def _bench_ingest_pg_restart(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import ingest_restart as restart_drill

    r = restart_drill.run(settings, count=args.events, down_seconds=args.down_seconds)
    print(
        f"PostgreSQL restart: produced {r.produced:,}, stopped at {r.landed_at_stop:,} landed for"
        f" {r.down_seconds:.0f}s; the job restarted its query {r.query_restarts}x and landed the"
        f" rest {r.recovered_seconds:.0f}s after the restart; raw rows {r.landed_rows:,},"
        f" distinct ids {r.distinct_ids:,}, missing {r.missing}, duplicated {r.duplicated}"
        f" in {r.seconds:.0f}s -> {'OK' if r.ok else 'FAILED'}"
    )
    return 0 if r.ok else 1


def _bench_elt(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import elt as bench

    print(f"bench elt: {args.scans:,} scans/day, {args.history_days} days of history, db {args.db}")
    result = bench.run_bench(
        settings, scans=args.scans, history_days=args.history_days, database=args.db, keep=args.keep
    )
    print(f"daily re-run alone:              {result.alone.seconds:6.1f}s")
    print(
        f"daily re-run with {result.history_days:>2} days history: "
        f"{result.with_history.seconds:6.1f}s"
    )
    verdict = "ok" if result.ratio < 1.2 else "ABOVE the 1.2 target"
    print(f"ratio: {result.ratio:.3f} ({verdict}); raw COPY {result.load_seconds:.0f}s")
    print("nodes by added time (alone -> with history, s):")
    for node, alone, hist in result.growth():
        print(f"  {node:<70} {alone:6.2f} -> {hist:6.2f}")
    return 0 if result.ratio < 1.2 else 1


def _day_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        default=None,
        help="UTC day (YYYY-MM-DD; default: yesterday, the daily DAG's latest interval)",
    )


def _bench_elt_dag(args: argparse.Namespace, settings: Settings) -> int:
    when = args.day or elt_dag.latest_interval()
    result = elt_dag.run_bench(settings, when, timeout=args.timeout)
    for line in result.lines(args.target_ratio):
        print(line)
    return 0 if result.state == "success" and result.ratio <= args.target_ratio else 1


def _bench_day(args: argparse.Namespace, settings: Settings) -> int:
    when = args.day or elt_dag.latest_interval()
    return day.run(settings, when, args.stores, args.pg_rows, args.timeout)


def _bench_suggestions(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import suggestions as bench

    def run_once() -> bool:
        result = bench.run(settings, rate=args.rate, seconds=args.seconds, backlog=args.backlog)
        for line in result.lines():
            print(line)
        return result.meets_targets()

    what = (
        f"suggestions (p99 <= {bench.TARGET_P99_MS:g} ms at {args.rate:g}/s, >= "
        f"{bench.TARGET_THROUGHPUT:,.0f} orders/s)"
    )
    return _judged_runs(args, settings, what, run_once)


def _bench_dags(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.runtime.airflow_env import airflow_env

    os.environ.update(airflow_env(settings))  # before Airflow is imported
    # Airflow and Cosmos log every parse at INFO.
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    print(f"bench dags: {args.repeats} warm parses per file, budget {dags.BUDGET_S} s (median)")
    results = dags.parse_times(args.folder, args.repeats)
    for r in results:
        verdict = "ok" if r.ok else "OVER BUDGET"
        print(f"  {r.file:<32} median {r.median_s:6.3f}s  max {r.max_s:6.3f}s  "
              f"({r.median_s / dags.BUDGET_S:4.2f} of budget) {verdict}")  # fmt: skip
    return 0 if all(r.ok for r in results) else 1


def _bench_idle(args: argparse.Namespace, settings: Settings) -> int:
    return idle.run(settings, seconds=args.seconds)


def _bench_memory(args: argparse.Namespace, settings: Settings) -> int:
    return memory.run(settings)


def _bench_fetch_wait(args: argparse.Namespace, settings: Settings) -> int:
    waits = tuple(int(w) for w in args.waits.split(","))
    return fetch_wait.run(waits, idle_seconds=args.seconds, samples=args.samples)


def _broker_bench(
    bench: Any, name: str, summary: str, doc: str | None, waits: tuple[int, ...]
) -> argparse.ArgumentParser:
    """A bench on a broker of its own, measured per ``fetch.wait.max.ms`` (``--waits``)."""
    p: argparse.ArgumentParser = bench.add_parser(
        name, help=summary, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--waits",
        default=",".join(str(w) for w in waits),
        help="comma-separated fetch.wait.max.ms values (default %(default)s)",
    )
    return p


def _bench_fetch_depth(args: argparse.Namespace, settings: Settings) -> int:
    waits = tuple(int(w) for w in args.waits.split(","))
    depths = tuple(int(d) for d in args.depths.split(","))
    return fetch_depth.run(waits, depths, timeout=args.timeout)


def _bench_astro_parity(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from tillflow_bench.astro_parity import checks, replay

    root = args.project.resolve()
    problems = checks.check_project(root)
    print(f"astro parity: {root}")
    print(f"  static checks: {len(problems)} problem(s)")
    for problem in problems:
        print(f"  FAIL {problem}")
    if args.static_only:
        return 1 if problems else 0
    work = Path(args.work or tempfile.mkdtemp(prefix="tillflow-astro-parity-"))
    print(f"  replaying the image into {work} (a fresh venv takes a few minutes)", flush=True)
    result = replay.replay(
        root, work, venv=args.venv, progress=lambda step: print(replay.step_line(step), flush=True)
    )
    for error in result.import_errors:
        print(f"  import error: {error.get('filepath')}: {error.get('error')}")
    verdict = "OK" if result.ok and not problems else "FAILED"
    print(f"astro parity: {verdict} ({len(result.import_errors)} import errors)")
    return 0 if verdict == "OK" else 1


def _stack_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runs", type=int, default=1, help="consecutive runs, each judged (default %(default)s)"
    )
    p.add_argument(
        "--bare",
        action="store_true",
        help="only PostgreSQL, the broker and Redis during the bench (the other services are "
        "stopped for it and started again after); default: the stack as `make up` leaves it",
    )
    p.add_argument(
        "--baseline-seconds",
        type=float,
        default=10.0,
        help="the stack's idle CPU is measured over this window first (default %(default)s)",
    )


def register(tree: CommandTree) -> None:
    """Add `tillflow bench ...` (every benchmark and drill)."""
    bench = tree.group("bench", "benchmarks measured on this machine")
    p = bench.add_parser("ingest", help="PG limit, plain consumer, Spark rows/s, latency p50-p99")
    p.add_argument("--events", type=int, default=1_000_000, help="scans to ingest (max 2M)")
    p.add_argument("--pg-rows", type=int, default=1_000_000)
    p.add_argument("--rate", type=int, default=2000, help="events/s for the latency run")
    p.add_argument("--latency-seconds", type=float, default=30.0)
    p.add_argument(
        "--trigger-seconds",
        type=float,
        nargs="+",
        default=[0.5, 1.0],
        help="one freshness run per trigger interval (default: 0.5, the job's default, and 1.0)",
    )
    p.add_argument("--sink-mode", choices=("merge", "direct"), default="direct")
    p.add_argument("--max-offsets-per-trigger", type=int, default=200_000)
    p.add_argument("--json", action="store_true", help="also print the report as JSON")
    _stack_options(p)
    p.set_defaults(func=_bench_ingest)

    p = bench.add_parser("ingest-fault", help="kill -9 the job N times mid-ingest; compare ids")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the landed rows for inspection")
    p.set_defaults(func=_bench_ingest_fault)

    p = bench.add_parser(
        "ingest-pg-restart",
        help="stop and start PostgreSQL under the running job; compare ids",
        description="The continuous job lands --events scans; once a fifth is in raw the stack's "
        "PostgreSQL is stopped for --down-seconds and started again. The job must land the rest "
        "by itself, each scan exactly once. Needs `tillflow up postgres kafka`.",
    )
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--down-seconds", type=float, default=15.0)
    p.set_defaults(func=_bench_ingest_pg_restart)

    p = bench.add_parser(
        "generator",
        help="scan generator events/s beside the broker's raw produce rate (same run)",
        description="Produce the same scans twice into one topic: pre-encoded values alone (the "
        "broker's raw rate), then the whole generator; print both, their ratio, and the "
        "generate-only rate. The topic is deleted afterwards.",
    )
    p.add_argument("--events", type=int, default=1_000_000, help="about this many scans (1000000)")
    p.add_argument(
        "--topic", default=f"{config.TOPICS.scans}.bench", help="bench topic (%(default)s)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed (default %(default)s)")
    p.add_argument("--keep-topic", action="store_true", help="do not delete the topic afterwards")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.set_defaults(func=_bench_generator)

    b = bench.add_parser(
        "elt",
        help="the daily dbt build of a day of scans, alone and with days of history loaded",
        description="In a database of its own (dropped at the end): COPY synthetic raw scans, "
        "build one day alone, then load and build earlier days and re-run that day. Prints both "
        "wall times, their ratio (target < 1.2) and the dbt nodes whose time grew.",
    )
    b.add_argument("--scans", type=int, default=1_000_000, help="scans per day (default 1M)")
    b.add_argument("--history-days", type=int, default=10, help="days of history (default 10)")
    b.add_argument("--db", default="tillflow_bench_elt", help="bench database (dropped at the end)")
    b.add_argument("--keep", action="store_true", help="keep the bench database")
    b.set_defaults(func=_bench_elt)

    p = bench.add_parser(
        "elt-dag",
        help="one day's ELT through the scheduler beside the same dbt build alone; per task",
        description=elt_dag.__doc__,
    )
    _day_option(p)
    p.add_argument(
        "--target-ratio", type=float, default=1.5, help="DAG / dbt alone (default %(default)s)"
    )
    p.add_argument("--timeout", type=float, default=7200, help="for the run (%(default)s s)")
    p.set_defaults(func=_bench_elt_dag)

    p = bench.add_parser(
        "day",
        help="one chain day: generate, ingest, ELT, gates, serving, beside the machine's limits",
        description=day.__doc__,
    )
    _day_option(p)
    p.add_argument("--stores", type=int, default=None, help="stores (default: all 1000)")
    p.add_argument("--pg-rows", type=int, default=2_000_000, help="rows of the COPY limit")
    p.add_argument("--timeout", type=float, default=7200, help="per stage (%(default)s s)")
    p.set_defaults(func=_bench_day)

    p = bench.add_parser(
        "suggestions",
        help="suggestion latency at a fixed order rate and throughput at full speed",
        description="p50/p99 from the order event acknowledged by the broker to the suggestion "
        "acknowledged, at --rate orders/s for --seconds; then orders/s over a backlog. Runs the "
        "real service on its own topics and a scratch OLTP database (tillflow_bench_oltp, "
        "created anew for the run and dropped at its end).",
    )
    p.add_argument("--rate", type=float, default=100.0, help="orders/s (default %(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="latency phase (%(default)s s)")
    p.add_argument("--backlog", type=int, default=20_000, help="throughput orders (%(default)s)")
    _stack_options(p)
    p.set_defaults(func=_bench_suggestions)

    p = bench.add_parser(
        "dags",
        help="parse time of every DAG file against the 0.5 s budget",
        description=dags.__doc__,
    )
    p.add_argument("--folder", type=Path, default=config.PROJECT_ROOT / "dags")
    p.add_argument("--repeats", type=int, default=5, help="parses per file (default 5)")
    p.set_defaults(func=_bench_dags)

    p = bench.add_parser(
        "idle",
        help="CPU of each service while the stack does nothing (target: 5 %% of the machine)",
        description=idle.__doc__,
    )
    p.add_argument("--seconds", type=float, default=60.0, help="window (default %(default)s)")
    p.set_defaults(func=_bench_idle)

    p = bench.add_parser(
        "memory",
        help="memory (PSS) of each service of the running stack, and the total",
        description=memory.__doc__,
    )
    p.set_defaults(func=_bench_memory)

    drill = tree.group("drill", GROUPS["drill"])
    p = drill.add_parser(
        "soak",
        help="the chain through simulated days with faults; produced vs landed, restarts, ELT",
        description=soak.__doc__,
    )
    p.add_argument("--days", type=float, default=3.0, help="simulated days (default 3)")
    p.add_argument("--stores", type=int, default=100, help="stores (default 100)")
    p.add_argument("--speedup", type=float, default=720.0, help="simulated/wall time (720)")
    p.add_argument("--fault-hours", type=float, default=4.0,
                   help="a fault every this many simulated hours (0: none; default 4)")  # fmt: skip
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed (%(default)s)")
    p.add_argument("--orders-per-second", type=float, default=1.0, help="orders posted (1)")
    p.add_argument("--no-elt", action="store_true",
                   help="trigger no simulated day's ELT run (the short CI version)")  # fmt: skip
    p.add_argument("--faults", default=",".join(soak.FAULTS),
                   help="the kinds of fault, comma-separated (default: all)")  # fmt: skip
    p.set_defaults(
        func=lambda args, settings: soak.run(
            settings, args.days, args.stores, args.speedup, args.fault_hours, args.seed,
            args.orders_per_second, elt=not args.no_elt,
            kinds=tuple(k for k in args.faults.split(",") if k),
        )
    )  # fmt: skip

    p = bench.add_parser(
        "broker-budget",
        help="whole chain days through the stack: broker RSS over time vs its budget, recycles",
        description=broker_budget.__doc__,
    )
    p.add_argument("--from", dest="day_from", default="2026-11-25", help="first UTC day")
    p.add_argument("--to", dest="day_to", default="2026-11-26", help="last UTC day")
    p.add_argument("--stores", type=int, default=None, help="only the first N stores (all)")
    p.add_argument("--sample-seconds", type=float, default=5.0, help="sampling period")
    p.set_defaults(
        func=lambda args, settings: broker_budget.run(
            settings, args.day_from, args.day_to, args.stores, args.sample_seconds
        )
    )

    p = _broker_bench(
        bench,
        "fetch-wait",
        "broker CPU of one idle consumer and produce->poll latency per fetch.wait.max.ms",
        fetch_wait.__doc__,
        fetch_wait.DEFAULT_WAITS,
    )
    p.add_argument(
        "--seconds", type=float, default=10.0, help="idle window per wait (default %(default)s)"
    )
    p.add_argument(
        "--samples", type=int, default=100, help="records timed per wait (default %(default)s)"
    )
    p.set_defaults(func=_bench_fetch_wait)

    p = _broker_bench(
        bench,
        "fetch-depth",
        "how many batches a partition holds before a fetch at its tail comes back empty",
        fetch_depth.__doc__,
        fetch_depth.DEFAULT_WAITS,
    )
    p.add_argument(
        "--depths",
        default=",".join(str(d) for d in fetch_depth.DEFAULT_DEPTHS),
        help="comma-separated batch counts to measure at (default %(default)s)",
    )
    p.add_argument(
        "--timeout", type=float, default=5.0, help="seconds a fetch may take (default %(default)s)"
    )
    p.set_defaults(func=_bench_fetch_depth)

    p = bench.add_parser(
        "astro-parity",
        help="check the `astro dev start` path without a Docker engine (files + image replay)",
        description=astro_parity.__doc__,
    )
    p.add_argument("--project", type=Path, default=config.PROJECT_ROOT, help="project root")
    p.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    p.add_argument("--venv", type=Path, help="reuse a venv an earlier replay built")
    p.add_argument("--static-only", action="store_true", help="only check the files")
    p.set_defaults(func=_bench_astro_parity)
