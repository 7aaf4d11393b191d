"""The `tillflow` command: run the local stack and the platform's tools.

tillflow up [SERVICE ...]      start the local stack (idempotent)
tillflow down [SERVICE ...]    stop what `up` started
tillflow status                each service, its address, state and restarts
tillflow supervise             restart what dies (`up` runs it as the service `supervisor`)
tillflow run                   the whole chain on its own, until `tillflow run --stop`
tillflow logs SERVICE [-n N]   the tail of a service's log
tillflow demo                  the pipeline end to end through Airflow DAG runs
tillflow airflow ARGS...       any `airflow` command with the stack's configuration
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tillflow.config import Settings
from tillflow.entrypoints.commands import CommandTree
from tillflow.runtime import manager
from tillflow.runtime.airflow_env import airflow_env
from tillflow.runtime.process import StackError
from tillflow.runtime.registry import all_services
from tillflow.runtime.services import Service


def _cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    print(f"tillflow stack (state in {settings.home})")
    manager.up(settings, args.services)
    print(
        f"ready. Airflow UI {settings.airflow.base_url} "
        f"(login {settings.airflow.admin_user} / {settings.airflow.admin_password})"
    )
    return 0


def _cmd_down(args: argparse.Namespace, settings: Settings) -> int:
    manager.down(settings, args.services)
    return 0


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    rows = manager.status(settings, args.services)
    print(f"{'SERVICE':<22} {'STATE':<12} {'PID':>8} {'RESTARTS':>8}  ADDRESS")
    for row in rows:
        print(
            f"{row.name:<22} {row.state:<12} {row.pid or '-':>8} {row.restarts:>8}  {row.address}"
        )
    _print_broker_memory(settings)
    exits = [row for row in rows if row.last_exit]
    if exits:
        print("\nlast exits (the supervisor, run/supervisor.json)")
        for row in exits:
            print(f"  {row.name:<20} {row.last_exit}")
    if not args.services and any(r.name == "postgres" and r.state in _UP for r in rows):
        from tillflow.entrypoints.commands.ingest import status_lines

        print("\ningestion progress (ops.ingest_batches)")
        try:
            for line in status_lines(settings):
                print(line)
        except Exception as exc:  # the warehouse may not be migrated yet
            print(f"  not available yet: {str(exc).splitlines()[0]}")
        _print_wal(settings)
    return 0


def _print_broker_memory(settings: Settings) -> None:
    """The local broker against its memory budget, as the supervisor's keeper last saw it."""
    import time

    from tillflow.adapters.broker_pressure import describe, read_pressure
    from tillflow.runtime.supervisor import read_state

    broker = read_state(settings.run_dir).get("broker") or {}
    if not broker.get("budget"):
        return
    print(
        f"\nbroker memory: {int(broker.get('rss', 0)) >> 20} MB of its"
        f" {int(broker['budget']) >> 20} MB budget (peak {int(broker.get('peak_rss', 0)) >> 20} MB),"
        f" recycled {broker.get('recycles', 0)}x since the supervisor started"
        f" ({broker.get('depth_recycles', 0)} begun for a partition too deep to serve)"
    )
    if broker.get("lag_bound"):
        print(
            f"  ingestion's lag bound: {int(broker['lag_bound']):,} records unread; producers"
            f" held back for it {broker.get('lag_holds', 0)}x"
        )
    pressure = read_pressure(settings.run_dir)
    if pressure is not None:
        held = time.time() - float(pressure.get("since") or time.time())
        print(f"  producers held back: {describe(pressure, held)}")


def _print_wal(settings: Settings) -> None:
    import psycopg

    from tillflow.runtime import wal

    pg = settings.postgres
    print("\nWAL held for replication (pg_replication_slots of OLTP's server)")
    try:
        slots, size, keep = wal.read_slots(pg.dsn_at(pg.oltp, "postgres"))
    except psycopg.Error as exc:
        print(f"  not available: {str(exc).splitlines()[0]}")
        return
    for line in wal.judge(slots, size, int(settings.wal_warn_gb * wal.GB), keep):
        print(line)
    if not pg.shared:  # the warehouse's server: no slot, its pg_wal bounded by checkpoints
        try:
            print(f"warehouse server pg_wal {wal.wal_bytes(pg.dsn('postgres')) / wal.GB:.2f} GB")
        except psycopg.Error as exc:
            print(f"warehouse server pg_wal not available: {str(exc).splitlines()[0]}")


_UP = {"running", "external"}


def _cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    services = {s.name: s for s in all_services(settings)}
    if args.service not in services:
        print(f"unknown service {args.service!r}; one of: {', '.join(services)}", file=sys.stderr)
        return 2
    log: Path = services[args.service].log_file
    if not log.exists():
        print(f"no log yet at {log}", file=sys.stderr)
        return 1
    argv = ["tail", "-n", str(args.lines)] + (["-f"] if args.follow else []) + [str(log)]
    return subprocess.call(argv)


def _cmd_supervise(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from tillflow.runtime import supervisor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from tillflow.runtime.broker_keeper import BrokerKeeper

    services = [s for s in all_services(settings) if s.name != "supervisor"]
    interval = args.interval or settings.supervise_interval
    keeper = None
    if not settings.kafka.external:
        budget = settings.kafka_memory_budget_mb << 20
        keeper = BrokerKeeper(
            settings, {s.name: s for s in services}, budget, settings.ingest_lag_bound
        )

    def registry() -> list[Service]:
        return [s for s in all_services(settings) if s.name != "supervisor"]

    supervisor.run(
        supervisor.Supervisor(services, settings.run_dir, keeper=keeper, registry=registry),
        interval,
    )
    return 0


def _cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    airflow = str(Path(sys.executable).parent / "airflow")
    env = airflow_env(settings)
    os.execve(airflow, [airflow, *args.airflow_args], env)


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.entrypoints import demo

    return demo.run(settings)


#: Modules that add subcommands: each has ``register(tree: CommandTree) -> None``.
COMMAND_MODULES: list[str] = [
    "tillflow.entrypoints.commands.orders",
    "tillflow.entrypoints.commands.ingest",
    "tillflow.entrypoints.commands.generate",
    "tillflow.entrypoints.commands.elt",
    "tillflow.entrypoints.commands.suggestions",
    "tillflow.entrypoints.commands.lakehouse",
    "tillflow.entrypoints.commands.run",
]

#: The benchmarks and drills live in their own package, which shipped code never imports: it is
#: loaded only when one of these groups is the command that runs.
BENCH_MODULE = "tillflow_bench.commands"
BENCH_GROUPS = {
    "bench": "benchmarks measured on this machine",
    "drill": "fault drills of the whole chain (soak)",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; the bench group's commands only when ``argv`` names it."""
    parser = argparse.ArgumentParser(
        prog="tillflow",
        description="tillflow: a retail point-of-sale data platform on Airflow, Kafka, Spark, dbt.",
        epilog="Settings come from TILLFLOW_* environment variables; see the README.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = "postgres, kafka, redis, airflow (or one airflow-* component)"

    p = sub.add_parser("up", help="start the local stack; a second `up` changes nothing")
    p.add_argument("services", nargs="*", help=f"only these services ({names})")
    p.set_defaults(func=_cmd_up)

    p = sub.add_parser("down", help="stop exactly what `up` started")
    p.add_argument("services", nargs="*", help=f"only these services ({names})")
    p.set_defaults(func=_cmd_down)

    p = sub.add_parser(
        "supervise",
        help="restart the stack's services that die, with backoff (`up` starts it as a service)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between looks (default TILLFLOW_SUPERVISE_INTERVAL, 2)",
    )
    p.set_defaults(func=_cmd_supervise)

    p = sub.add_parser("status", help="each service of the stack, its address and state")
    p.add_argument("services", nargs="*", help=f"only these services ({names})")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("logs", help="show a service's log")
    p.add_argument("service", help="service name as shown by `tillflow status`")
    p.add_argument("-n", "--lines", type=int, default=50, help="lines to show (default 50)")
    p.add_argument("-f", "--follow", action="store_true", help="keep following the log")
    p.set_defaults(func=_cmd_logs)

    p = sub.add_parser(
        "demo", help="the main job: run the pipeline through Airflow, print a summary"
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("airflow", help="run an `airflow` command with the stack's configuration")
    p.add_argument("airflow_args", nargs=argparse.REMAINDER, help="arguments for `airflow`")
    p.set_defaults(func=_cmd_airflow)

    tree = CommandTree(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(tree)
    command = next(
        (a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), None
    )
    if command in BENCH_GROUPS:
        importlib.import_module(BENCH_MODULE).register(tree)
    else:
        for name, text in BENCH_GROUPS.items():
            sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings))
    except (StackError, ValueError) as exc:
        print(f"tillflow: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`tillflow status | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
