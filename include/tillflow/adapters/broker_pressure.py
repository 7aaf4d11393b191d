"""The local broker's backpressure signal: a file the supervisor's broker keeper writes while
producers must wait (``runtime/broker_keeper.py``: the broker at its memory budget, or ingestion
too far behind) and the generators read before each send.

The file holds JSON: since when, the broker's RSS and budget, what each consumer has still to
read, and the step the keeper is at. No file: produce freely (always so with an external broker).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tillflow.adapters.procfs import pid_alive

PRESSURE_FILE = "kafka.pressure"


def pressure_file(run_dir: Path) -> Path:
    return run_dir / PRESSURE_FILE


def read_pressure(run_dir: Path) -> dict[str, Any] | None:
    """What the keeper says while producers must wait (None: they may produce; also when the
    keeper that wrote it is gone, since nobody would recycle the broker then)."""
    try:
        body: dict[str, Any] = json.loads(pressure_file(run_dir).read_text())
    except (OSError, ValueError):
        return None
    pid = body.get("pid")
    # No pid recorded: trust the file.
    return body if not isinstance(pid, int) or pid_alive(pid) else None


def describe(body: dict[str, Any], held_for: float) -> str:
    """One progress line: why producers wait, and for what."""
    unread = ", ".join(f"{k} {int(v):,}" for k, v in (body.get("unread") or {}).items() if v)
    if body.get("lag_bound"):
        return (
            f"ingestion behind (unread: {unread or 'nothing'}), past its bound of"
            f" {int(body['lag_bound']):,} records: held back {held_for:.0f}s;"
            f" {body.get('step', 'waiting')} (a broker lost now would take no more)"
        )
    return (
        f"broker at {int(body.get('rss', 0)) >> 20} MB of its {int(body.get('budget', 0)) >> 20} MB"
        f" budget: held back {held_for:.0f}s; {body.get('step', 'waiting')}"
        f" (unread: {unread or 'nothing'}); it restarts empty once consumers have read it all"
    )
