"""The ingestion job's command line, shared by ``spark/ingest_job.py`` and ``tillflow ingest``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from tillflow import config
from tillflow.jobs.ingest import sink

MODES = ("continuous", "available-now")
#: The continuous job's trigger. An event waits for the next trigger, so a 1 s trigger alone puts
#: the freshness p95 at 0.95 s: measured beside the whole stack, 1.01-1.02 s at 1 s against
#: 0.52-0.58 s (p99 0.57-0.74 s) at 0.5 s (`tillflow bench ingest --runs 3`).
DEFAULT_TRIGGER_SECONDS = 0.5
#: python: Python source -> JVM -> mapInArrow sink; fused: the sink runs inside the Python
#: source's read tasks (records never enter the JVM); native: format("kafka") -> mapInArrow sink;
#: auto: native where the connector jar is on the classpath, else fused.
ENGINES = ("python", "fused", "tail", "native", "auto")


def parse_topics(values: Sequence[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """``topic`` or ``topic:kind`` -> (topics, {topic: kind})."""
    topics: list[str] = []
    kinds: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            topic, _, kind = item.partition(":")
            topics.append(topic)
            if kind:
                kinds[topic] = kind
    return tuple(dict.fromkeys(topics)), kinds


def default_topics() -> list[str]:
    t = config.TOPICS
    tables = ("item_master", "stores", "customers", "payment_methods", "item_categories")
    return [t.scans, t.orders, *(t.cdc(x) for x in tables)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=MODES, default="continuous")
    p.add_argument(
        "--topics",
        nargs="+",
        default=None,
        help="topic or topic:kind (scans|cdc|orders); default: all platform topics",
    )
    p.add_argument("--job", default="ingest", help="job name: the commit log and checkpoint key")
    p.add_argument(
        "--database",
        default=config.DB_WAREHOUSE,
        help=f"the warehouse database to land into (default {config.DB_WAREHOUSE};"
        " the bench uses a scratch one)",
    )
    p.add_argument(
        "--trigger-seconds",
        type=float,
        default=float(
            os.environ.get("TILLFLOW_INGEST_TRIGGER_SECONDS", str(DEFAULT_TRIGGER_SECONDS))
        ),
        help=f"continuous mode's processing-time trigger (default {DEFAULT_TRIGGER_SECONDS}, or"
        " TILLFLOW_INGEST_TRIGGER_SECONDS; see the README for the freshness it gives)",
    )
    p.add_argument(
        "--engine", choices=ENGINES, default=os.environ.get("TILLFLOW_INGEST_ENGINE", "auto")
    )
    p.add_argument(
        "--sink-mode",
        choices=sink.MODES,
        default=os.environ.get("TILLFLOW_INGEST_SINK_MODE", sink.DEFAULT_MODE),
    )
    p.add_argument("--max-offsets-per-trigger", type=int, default=None)
    p.add_argument("--starting-offsets", choices=("earliest", "latest"), default="earliest")
    p.add_argument(
        "--checkpoint", default=None, help="default: $TILLFLOW_HOME/spark/checkpoints/JOB"
    )
    p.add_argument("--master", default=None, help="default: TILLFLOW_SPARK_MASTER or local[2]")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: settings)")
    p.add_argument(
        "--max-age-days",
        type=float,
        default=float(os.environ.get("TILLFLOW_INGEST_MAX_AGE_DAYS", "400")),
        help="events older than this are dead letters (default 400)",
    )
    p.add_argument(
        "--max-future-minutes",
        type=float,
        default=float(os.environ.get("TILLFLOW_INGEST_MAX_FUTURE_MINUTES", "5")),
        help="events further ahead of the clock are dead letters (default 5, as the raw quality "
        "gate's skew limit; raise it for a sped-up live generator, which runs ahead)",
    )


def to_argv(args: argparse.Namespace) -> list[str]:
    """The parsed arguments back as a command line (``tillflow ingest`` hands them on)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None:
            continue
        flag = action.option_strings[-1]
        if isinstance(value, list | tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv
