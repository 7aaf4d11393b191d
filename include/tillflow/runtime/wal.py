"""The WAL OLTP's PostgreSQL keeps for its replication slots, for `tillflow status`.

A logical slot holds every byte its server wrote since the position its consumer (CDC) last
confirmed, and cannot restart past the oldest transaction open on that server. OLTP has a
server of its own (the warehouse's minutes-long model transactions and gigabytes of WAL would
otherwise be held too); still, a stopped or stuck CDC grows ``pg_wal`` until the disk is full.
The status shows what each slot
holds and warns above ``TILLFLOW_WAL_WARN_GB`` (default 4), before the disk is at risk, with
what to do. The server bounds what a slot may hold (``TILLFLOW_PG_MAX_SLOT_WAL_KEEP``, default
16GB): past it the slot is invalidated and CDC snapshots again (``jobs.cdc.slot``).
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024**3


@dataclass(frozen=True)
class SlotWal:
    name: str
    active: bool
    wal_status: str  # reserved | extended | unreserved | lost (pg_replication_slots)
    retained_bytes: int


def read_slots(dsn: str) -> tuple[list[SlotWal], int, str]:
    """Each replication slot and the WAL it holds, the size of ``pg_wal``, and the running
    server's ``max_slot_wal_keep_size`` ("-1": no bound; it may differ from the setting until
    PostgreSQL is restarted), over one connection (administrator)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=3) as conn:
        rows = conn.execute(
            "select slot_name, active, coalesce(wal_status, 'unknown'),"
            " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint"
            " from pg_replication_slots order by slot_name"
        ).fetchall()
        wal = conn.execute("select coalesce(sum(size), 0)::bigint from pg_ls_waldir()").fetchone()
        bound = conn.execute("show max_slot_wal_keep_size").fetchone()
    return (
        [SlotWal(*row) for row in rows],
        int(wal[0] if wal else 0),
        str(bound[0] if bound else "-1"),
    )


def wal_bytes(dsn: str) -> int:
    """The size of ``pg_wal`` of the server ``dsn`` reaches (administrator)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=3) as conn:
        row = conn.execute("select coalesce(sum(size), 0)::bigint from pg_ls_waldir()").fetchone()
    return int(row[0] if row else 0)


def judge(
    slots: list[SlotWal], pg_wal_bytes: int, limit: int, keep: str | None = None
) -> list[str]:
    """The status lines: a line per slot, then a warning for each slot past ``limit`` or lost.
    ``keep``: the server's ``max_slot_wal_keep_size`` (the bound past which a slot is lost)."""
    if keep is None:
        bound = ""
    elif keep == "-1":
        bound = "; no bound on what a slot holds: set TILLFLOW_PG_MAX_SLOT_WAL_KEEP and restart"
    else:
        bound = f"; a slot is invalidated past {keep}"
    lines = [
        f"pg_wal {pg_wal_bytes / GB:.2f} GB (warning above {limit / GB:.1f} GB held by a slot"
        f"{bound})"
    ]
    for slot in slots:
        state = "active" if slot.active else "INACTIVE"
        lines.append(
            f"  slot {slot.name:<20} {state:<9} holds {slot.retained_bytes / GB:7.2f} GB"
            f"  wal_status {slot.wal_status}"
        )
    for slot in slots:
        if slot.wal_status == "lost":
            lines.append(
                f"WARNING: slot {slot.name} was invalidated (it held more WAL than "
                "max_slot_wal_keep_size): CDC drops it and snapshots the captured tables again "
                "when it starts; restart it (`tillflow down cdc && tillflow up cdc`) if it is "
                "running"
            )
        elif slot.retained_bytes > limit:
            cause = "its consumer is not running" if not slot.active else "its consumer lags"
            lines.append(
                f"WARNING: slot {slot.name} holds {slot.retained_bytes / GB:.1f} GB of WAL "
                f"({cause}): start or restart CDC (`tillflow up`), or drop the slot if CDC is "
                "retired, before the disk fills"
            )
    return lines
