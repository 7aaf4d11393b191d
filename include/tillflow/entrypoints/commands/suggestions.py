"""CLI: `tillflow suggestions serve|load-cache` and `tillflow bench suggestions`."""

from __future__ import annotations

import argparse

from tillflow.config import Settings
from tillflow.entrypoints.commands import CommandTree


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


def register(tree: CommandTree) -> None:
    """Add `suggestions serve|load-cache` to the `tillflow` command."""
    from tillflow.jobs.suggestions.cache import DEFAULT_PREFIX

    group = tree.group("suggestions", "the real-time product suggestion service")
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
