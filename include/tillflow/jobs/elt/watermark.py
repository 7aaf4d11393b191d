"""Has ingestion passed a point in event time? (The ELT DAG's sensor.)"""

from __future__ import annotations

from datetime import datetime


def ingested_past(dsn: str, point: datetime) -> bool:
    """True once raw.pos_scans holds a scan at or after ``point`` (index on scanned_at).

    Scans arrive in near event-time order per store, so a landed scan past the interval's end
    (plus a grace for stragglers and voids) means the interval is complete; events later still
    are late and get counted when their day is run again.
    """
    import psycopg

    if point.tzinfo is None:
        raise ValueError("point must be timezone-aware")
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(
            "select exists (select 1 from raw.pos_scans where scanned_at >= %s)", (point,)
        ).fetchone()
    return bool(row and row[0])
