"""`tillflow run`: the whole chain on its own, until `tillflow run --stop`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import datetime

from tillflow.config import Settings, _env_flag
from tillflow.entrypoints.commands import CommandTree


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.jobs import chain
    from tillflow.runtime import manager

    if args.serve:
        return _serve(settings)
    path = chain.state_file(settings)
    if args.stop:
        if not path.exists():
            print("no chain is planned: nothing to stop")
            return 0
        # The continuous ingestion came up with the chain unless it is wanted on its own.
        alone = _env_flag("TILLFLOW_INGEST_CONTINUOUS")
        manager.down(settings, ["chain"] if alone else ["chain", "ingest"])
        state = chain.ChainState.load(path)
        path.unlink(missing_ok=True)
        where = f" at simulated {state.position:%Y-%m-%d %H:%M:%S} UTC" if state else ""
        print(f"the chain is stopped{where}; the rest of the stack runs on (`make down` stops it)")
        return 0
    plan = chain.ChainPlan(
        speedup=args.speedup,
        stores=args.stores,
        seed=args.seed,
        orders_per_second=args.orders_per_second,
    )
    start = datetime.fromisoformat(args.start) if args.start else None
    state = chain.plan_chain(settings, plan, start)
    print(
        f"chain: scans from simulated {state.position:%Y-%m-%d %H:%M:%S} UTC at x{plan.speedup:g}"
        f" ({plan.stores or 'all'} stores), {plan.orders_per_second:g} orders/s, hourly churn,"
        " continuous ingestion, each simulated day's ELT through the scheduler"
    )
    manager.up(settings)
    print(
        "running until `tillflow run --stop`; `make down && make up` resumes it where it stopped."
        " Watch it with `tillflow status` and the Airflow UI"
        f" ({settings.airflow.base_url}); its log: `tillflow logs chain`"
    )
    return 0


def _serve(settings: Settings) -> int:
    from tillflow.jobs.chain import Chain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Chain(settings, stop).run()
    return 0


def register(tree: CommandTree) -> None:
    from tillflow.domain.generation import DEFAULT_SEED

    p = tree.root.add_parser(
        "run",
        help="the whole chain on its own: live scans, orders, churn, ingestion, the daily ELT",
        description="Plan the chain (run/chain.json) and bring the stack up with it: live scans "
        "on a simulated clock, orders through the API, the hourly churn, continuous ingestion "
        "and each simulated day's ELT through the scheduler. It runs until `tillflow run --stop` "
        "and resumes after `make down && make up` with no scan sent twice.",
    )
    p.add_argument("--speedup", type=float, default=1.0, help="simulated/wall time (default 1)")
    p.add_argument("--stores", type=int, default=None, help="only the first N stores (all)")
    p.add_argument("--orders-per-second", type=float, default=0.2, help="orders posted (0.2)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed (%(default)s)")
    p.add_argument("--start", default=None, help="simulated start, ISO 8601 (default now)")
    p.add_argument("--stop", action="store_true", help="stop the chain and forget its plan")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the service itself
    p.set_defaults(func=_cmd_run)
