"""`tillflow generate orders` (and `tillflow api`): the orders API's commands.

``generate`` is a group shared with the other generators (``CommandTree.group``).
"""

from __future__ import annotations

import argparse
import json

from tillflow.config import DB_OLTP, Settings
from tillflow.entrypoints.commands import CommandTree


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


def register(tree: CommandTree) -> None:
    group = tree.group("generate", "generate data: scans, orders, churn")
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
