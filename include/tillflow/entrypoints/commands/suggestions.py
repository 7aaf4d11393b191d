"""CLI: `tillflow suggestions serve|load-cache` and `tillflow bench suggestions`."""

from __future__ import annotations

import argparse
from typing import Any

from tillflow.config import Settings
from tillflow.entrypoints.cli import command_group


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.jobs.suggestions import consumer as service

    return service.main(args.service_args)


def _cmd_load_cache(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow import config
    from tillflow.jobs.suggestions.cache import SuggestionCache

    pg = settings.postgres
    cache = SuggestionCache.connect(
        settings.redis.host, settings.redis.port, pg.dsn(config.DB_OLTP, pg.api), args.prefix
    )
    try:
        print(cache.load())
    finally:
        cache.close()
    return 0


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow_bench import suggestions as bench

    result = bench.run(settings, rate=args.rate, seconds=args.seconds, backlog=args.backlog)
    for line in result.lines():
        print(line)
    return 0


def register(sub: Any) -> None:
    """Add `suggestions serve|load-cache` and `bench suggestions` to the `tillflow` command."""
    from tillflow.jobs.suggestions.cache import DEFAULT_PREFIX

    group = command_group(sub, "suggestions", "the real-time product suggestion service")
    p = group.add_parser(
        "serve",
        help="run the suggestion service in the foreground (`tillflow up` runs it managed)",
        description="Run the suggestion service in the foreground; arguments after `serve` go "
        "to it (see `tillflow suggestions serve -- --help`).",
    )
    p.add_argument("service_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_serve)
    p = group.add_parser("load-cache", help="reload the Redis caches from the OLTP database")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="Redis key prefix (%(default)s)")
    p.set_defaults(func=_cmd_load_cache)

    bench = command_group(sub, "bench", "benchmarks measured on this machine")
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
    p.set_defaults(func=_cmd_bench)
