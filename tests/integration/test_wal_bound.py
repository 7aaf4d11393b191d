"""The WAL bound on a second, isolated PostgreSQL (own state folder and port, a 64MB bound), so
the shared stack's CDC slot is never at risk: a slot whose consumer is gone is invalidated past
the bound instead of filling the disk, `status` says so, and CDC's recovery drops it and sets its
offsets aside so the engine snapshots again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.integration.isolated import free_port, run_tillflow
from tillflow.config import Settings
from tillflow.jobs.cdc.slot import recover_lost_slot, slot_state
from tillflow.runtime import wal

pytestmark = pytest.mark.integration

SLOT = "tillflow_probe"


@pytest.fixture
def bounded_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    env = {
        "TILLFLOW_HOME": str(tmp_path / "state"),
        "TILLFLOW_PG_PORT": str(free_port()),
        "TILLFLOW_OLTP_PG_PORT": str(free_port()),
        "TILLFLOW_PG_MAX_SLOT_WAL_KEEP": "64MB",
    }
    full = {**os.environ, **env}
    started = run_tillflow(full, "up", "postgres")
    assert started.returncode == 0, started.stderr
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield Settings.from_env()
    finally:
        run_tillflow(full, "down", "postgres")


def test_a_slot_past_the_bound_is_invalidated_shown_and_recovered(
    bounded_postgres: Settings, tmp_path: Path
) -> None:
    dsn = bounded_postgres.postgres.dsn("postgres")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("show max_slot_wal_keep_size").fetchone() == ("64MB",)
        # Given a logical slot whose consumer never comes
        conn.execute("select pg_create_logical_replication_slot(%s, 'test_decoding')", (SLOT,))
        assert slot_state(dsn, SLOT) == "reserved"
        # When far more WAL than the bound is written and checkpointed
        conn.execute("create table filler (body text)")
        for _ in range(4):
            conn.execute(
                "insert into filler select repeat('x', 500) from generate_series(1, 60000)"
            )
            conn.execute("select pg_switch_wal()")
            conn.execute("checkpoint")
    # Then the server invalidated the slot rather than keep the WAL
    assert slot_state(dsn, SLOT) == "lost"
    slots, size, keep = wal.read_slots(dsn)
    lines = wal.judge(slots, size, 4 * wal.GB, keep)
    assert "a slot is invalidated past 64MB" in lines[0]
    assert any(line.startswith(f"WARNING: slot {SLOT} was invalidated") for line in lines)
    # And CDC's recovery drops it and sets the offsets aside, once
    offsets = tmp_path / "offsets.dat"
    offsets.write_bytes(b"old position")
    assert recover_lost_slot(dsn, SLOT, offsets)
    assert slot_state(dsn, SLOT) is None and not offsets.exists()
    [aside] = list(tmp_path.glob("offsets.lost-slot.*.bak"))
    assert aside.read_bytes() == b"old position"
    assert not recover_lost_slot(dsn, SLOT, offsets)


def test_a_usable_slot_is_left_alone(bounded_postgres: Settings, tmp_path: Path) -> None:
    dsn = bounded_postgres.postgres.dsn("postgres")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_create_logical_replication_slot(%s, 'test_decoding')", (SLOT,))
    offsets = tmp_path / "offsets.dat"
    offsets.write_bytes(b"position")
    assert not recover_lost_slot(dsn, SLOT, offsets)
    assert slot_state(dsn, SLOT) == "reserved" and offsets.read_bytes() == b"position"
