"""`tillflow generate ...` and `tillflow bench generator`: the generators from the command line.

tillflow generate reference              OLTP migrations, seeded reference data, Kafka topics
tillflow generate history --from D1 --to D2   the scans of a window, as fast as possible
tillflow generate live --duration 60     scans on the wall clock (speed-up, rate cap)
tillflow generate churn                  item-master churn and tier changes for one hour slot
tillflow bench generator                 generator events/s beside the broker's raw rate
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any

from tillflow.config import DB_OLTP, Settings
from tillflow.domain.generation import DEFAULT_SEED
from tillflow.entrypoints.commands import CommandTree


def parse_moment(text: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def history_window(start: str, end: str) -> tuple[datetime, datetime]:
    """Dates are whole UTC days, both included; date-times give the half-open ``[start, end)``."""

    def is_date(text: str) -> bool:
        try:
            date.fromisoformat(text)
        except ValueError:
            return False
        return len(text) == 10

    lo = parse_moment(start)
    hi = parse_moment(end) + (timedelta(days=1) if is_date(end) else timedelta())
    if hi <= lo:
        raise ValueError(f"empty window: --from {start} --to {end}")
    return lo, hi


class _Display:
    """A progress display: a live bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, title: str, total: float, unit: str, interactive: bool | None = None):
        self.title, self.total, self.unit = title, total, unit
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self._last_line = 0.0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Display:
        if self.interactive:
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=self.total, detail="")
        return self

    def update(self, done: float, events: int, rate: float) -> None:
        detail = f"{events:,} events  {rate:,.0f}/s"
        if self._progress is not None:
            self._progress.update(self._task, completed=done, detail=detail)
            return
        now = time.monotonic()
        if now - self._last_line >= 5.0:
            self._last_line = now
            print(f"{self.title}: {done:,.1f}/{self.total:,.1f} {self.unit}, {detail}", flush=True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


def _print_stats(stats: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(stats))
        return
    for key, value in stats.items():
        print(f"{key:<18} {value:,}" if isinstance(value, int) else f"{key:<18} {value}")


def _cmd_reference(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.jobs.generators import bootstrap, reference_load

    dsn = settings.postgres.dsn(DB_OLTP, settings.postgres.api)
    applied, results = reference_load.bootstrap_oltp(dsn, args.seed)
    print(f"migrations applied: {', '.join(applied) or 'none pending'}")
    already = reference_load.reference_loaded(dsn)
    if already and already.get("seed") != args.seed:
        print(f"note: the reference data was loaded with seed {already.get('seed')}; kept as is")
    for r in results:
        state = f"inserted {r.loaded:,}" if r.loaded else "unchanged"
        print(f"{r.table:<16} {r.present:>7,} rows  {state}")
    if not args.no_topics:
        created = bootstrap.ensure_platform_topics(
            settings.kafka.connection, settings.kafka.topic_layout
        )
        print(f"topics created: {', '.join(created) or 'none (all existed)'}")
    return 0


def _sink(args: argparse.Namespace, settings: Settings) -> Any:
    from tillflow.jobs.generators.scans import CountingSink, KafkaSink

    if args.dry_run:
        return CountingSink()
    return KafkaSink(settings.kafka.connection, args.topic)


def _cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.domain.generation.model import Catalog
    from tillflow.jobs.generators.scans import run_history

    start, end = history_window(args.start, args.end)
    hours = (end - start) / timedelta(hours=1)
    catalog = Catalog.from_seed(args.seed, args.stores)
    print(
        f"scans {start.isoformat()} .. {end.isoformat()} ({hours:g} h, {catalog.store_ids.size} "
        f"stores, seed {args.seed}) -> {'nothing (dry run)' if args.dry_run else args.topic}",
        file=sys.stderr,
    )
    with _Display("history", max(hours, 1), "hours") as display:
        stats = run_history(
            catalog,
            args.seed,
            start,
            end,
            _sink(args, settings),
            bad_share=args.bad_share,
            progress=lambda s: display.update(
                min(hours, (s.last_event_ms / 1000 - start.timestamp()) / 3600), s.events, s.rate
            ),
        )
    _print_stats(stats.as_dict(), args.json)
    return 0


def _cmd_live(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.domain.generation.model import Catalog
    from tillflow.jobs.generators.scans import run_live

    start = parse_moment(args.start) if args.start else datetime.now(UTC)
    catalog = Catalog.from_seed(args.seed, args.stores)
    print(
        f"live scans from {start.isoformat()} for {args.duration:g} s, speed-up {args.speedup:g}, "
        f"cap {args.max_rate or 'none'}/s -> {'nothing (dry run)' if args.dry_run else args.topic}",
        file=sys.stderr,
    )
    with _Display("live", args.duration, "s") as display:
        stats = run_live(
            catalog,
            args.seed,
            _sink(args, settings),
            start,
            args.duration,
            speedup=args.speedup,
            max_rate=args.max_rate or None,
            bad_share=args.bad_share,
            progress=lambda s: display.update(s.seconds, s.events, s.rate),
        )
    _print_stats(stats.as_dict(), args.json)
    return 0


def _cmd_churn(args: argparse.Namespace, settings: Settings) -> int:
    from tillflow.jobs.generators import churn

    at = parse_moment(args.at) if args.at else datetime.now(UTC)
    for result in churn.churn(settings.postgres.dsn(DB_OLTP, settings.postgres.api), at, args.seed):
        state = "applied" if result.applied else "already applied earlier: nothing changed"
        print(f"{result.kind:<13} slot {result.slot}  {state}  {json.dumps(result.details)}")
    return 0


def _scan_options(p: argparse.ArgumentParser) -> None:
    from tillflow import config

    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed (default %(default)s)")
    p.add_argument(
        "--stores",
        type=int,
        default=None,
        metavar="N",
        help="only the first N stores (default all)",
    )
    p.add_argument(
        "--bad-share",
        type=float,
        default=0.0,
        metavar="P",
        help="mix in this share of late (2-48 h old) and malformed events for the dead-letter "
        "path; half each (default 0)",
    )
    p.add_argument("--topic", default=config.TOPICS.scans, help="Kafka topic (default %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="generate and hash only, send nothing")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")


def register(tree: CommandTree) -> None:
    """Add `generate` to the `tillflow` command."""

    gen = tree.group(
        "generate",
        "generators: reference data, scans (history, live), item-master churn",
        "Seeded generators. Everything derives from one base seed (--seed), so runs repeat.",
    )

    p = gen.add_parser(
        "reference",
        help="apply the OLTP migrations, load the seeded reference data, create the topics",
        description="Apply the OLTP migrations, COPY the seeded reference data into every table "
        "that is still empty (a second run changes nothing), and create the platform's Kafka "
        "topics (scans, order events, CDC, suggestions).",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed (default %(default)s)")
    p.add_argument("--no-topics", action="store_true", help="do not create Kafka topics")
    p.set_defaults(func=_cmd_reference)

    p = gen.add_parser(
        "history",
        help="the scans of a date range as fast as possible (deterministic, prints a hash)",
        description="Generate the scans whose time lies in a window, as fast as the broker takes "
        "them. The events of a window depend only on the seed, the store count and --bad-share: "
        "the same window regenerates identically and prints the same SHA-256.",
        epilog="Examples: --from 2026-03-08 --to 2026-03-08 (one UTC day); "
        "--from 2026-03-08T15:00 --to 2026-03-08T15:10 (ten minutes).",
    )
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        help="first UTC day (YYYY-MM-DD) or start instant (ISO date-time, included)",
    )
    p.add_argument(
        "--to",
        dest="end",
        required=True,
        help="last UTC day (included) or end instant (ISO date-time, excluded)",
    )
    _scan_options(p)
    p.set_defaults(func=_cmd_history)

    p = gen.add_parser(
        "live",
        help="scans on the wall clock, with a speed-up factor and a rate cap",
        description="Release scans as a simulated clock reaches them. The simulated clock starts "
        "at --start (default now) and runs --speedup times faster than the wall clock; at most "
        "--max-rate events leave per second. Stops after --duration wall seconds.",
    )
    p.add_argument("--duration", type=float, default=60.0, help="wall seconds (default 60)")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated/wall time (default 1)")
    p.add_argument(
        "--max-rate", type=float, default=50_000, help="events per second cap, 0 = none (50000)"
    )
    p.add_argument("--start", default=None, help="simulated start instant (default now, UTC)")
    _scan_options(p)
    p.set_defaults(func=_cmd_live)

    p = gen.add_parser(
        "churn",
        help="item-master churn (price +-10%% on a category, inserts, deletes) and tier changes",
        description="Apply one hour slot's item-master churn and customer tier changes to the "
        "OLTP database (CDC publishes them). Each slot is applied once; repeating it is a no-op.",
    )
    p.add_argument("--at", default=None, help="instant whose UTC hour is the slot (default now)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="base seed (default %(default)s)")
    p.set_defaults(func=_cmd_churn)
