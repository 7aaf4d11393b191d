"""The replication slot after PostgreSQL invalidated it, and the way back.

The server keeps at most ``max_slot_wal_keep_size`` of WAL for a slot (``Settings.
max_slot_wal_keep``). A CDC that was stopped, or lagged, for longer than that finds its slot
``lost``: the WAL it would resume from is gone and Debezium cannot stream from it. Rather than
fail on every start, CDC drops the lost slot and sets its offsets aside, so the engine creates
the slot anew and snapshots the captured tables (``snapshot.mode=initial``). The snapshot carries
each row's current state; what changed in between and changed again is not seen as separate
versions. That loss is counted (the status file's ``slot_recoveries``) and logged, never silent.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("tillflow.jobs.cdc")


def slot_state(dsn: str, slot: str) -> str | None:
    """``pg_replication_slots.wal_status`` of ``slot`` (None when there is no such slot)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "select coalesce(wal_status, 'unknown') from pg_replication_slots where slot_name = %s",
            (slot,),
        ).fetchone()
    return None if row is None else str(row[0])


def recover_lost_slot(dsn: str, slot: str, offsets_file: Path) -> bool:
    """Drop ``slot`` when the server invalidated it and set ``offsets_file`` aside; True when it
    did (the engine then creates the slot and snapshots), False when the slot is usable or absent.
    """
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        dropped = conn.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
            " where slot_name = %s and wal_status = 'lost'",
            (slot,),
        ).fetchall()
    if not dropped:
        return False
    aside = None
    if offsets_file.exists():
        aside = offsets_file.with_suffix(f".lost-slot.{int(time.time())}.bak")
        offsets_file.replace(aside)
    log.warning(
        "replication slot %s was invalidated (it held more WAL than max_slot_wal_keep_size): "
        "dropped%s; the engine creates it anew and snapshots the captured tables, so changes "
        "made while it was lost are seen only as each row's current state",
        slot,
        f", offsets moved to {aside.name}" if aside else "",
    )
    return True
