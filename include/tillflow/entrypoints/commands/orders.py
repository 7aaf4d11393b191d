"""`tillflow generate orders` (and `tillflow api`): the orders API's commands.

``generate`` is shared with the other generators: whichever module registers first creates it,
the others add their subcommands to it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tillflow.config import DB_OLTP, Settings


def generate_subcommands(sub: Any) -> Any:
    """The subparsers of `tillflow generate`, created when missing (shared by generators)."""
    parser = sub.choices.get("generate")
    if parser is None:
        parser = sub.add_parser("generate", help="generate data: scans, orders, churn")
        return parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="what", required=True, metavar="WHAT")


def _positive_rate(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise argparse.ArgumentTypeError("rate must be >= 0 (0 = unthrottled)")
    return value


def _cmd_generate_orders(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.jobs.api.order_generator import generate, load_mix, print_progress
    from tillflow.jobs.api.settings import ApiSettings

    api_url = args.api_url or ApiSettings.from_env().base_url
    mix = load_mix(settings.postgres.dsn(DB_OLTP, settings.postgres.api))
    problems = mix.problems()
    if problems:
        raise ValueError("; ".join(problems))
    print(
        f"posting {args.count} orders to {api_url} at <= {args.rate or 'unthrottled'}/s "
        f"({len(mix.customers)} customers, {len(mix.items)} items, seed {args.seed})"
    )
    result = generate(
        api_url,
        mix,
        count=args.count,
        rate=args.rate,
        seed=args.seed,
        qualify_share=args.qualify_share,
        progress=None if args.quiet else print_progress,
    )
    print(json.dumps(result.summary()))
    return 0 if result.failed == 0 else 1


def register(sub: Any) -> None:
    group = generate_subcommands(sub)
    p = group.add_parser(
        "orders",
        help="post realistic orders through the orders API",
        description="Post realistic orders (baskets of 1-8 lines, customer and payment mixes "
        "from the OLTP database) through the orders API; a share qualifies for a suggestion.",
    )
    p.add_argument("--count", type=int, default=100, help="orders to post (default 100)")
    p.add_argument(
        "--rate", type=_positive_rate, default=20.0, help="orders per second, 0 = unthrottled"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--qualify-share",
        type=float,
        default=0.10,
        help="share steered to diamond + ACB bank transfer (default 0.10)",
    )
    p.add_argument("--api-url", help="orders API base URL (default from TILLFLOW_API_*)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_generate_orders)
