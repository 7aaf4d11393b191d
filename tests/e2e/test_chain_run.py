"""`tillflow run` on the stack: the chain's scans (5 stores, 600x faster than the wall clock, a
simulated past that stays behind now) reach the warehouse through the continuous ingestion; the
chain is stopped (SIGTERM, as `make down` does) and started again, and then every scan of the
simulated window is in raw exactly once, as the generator's history for the same window says.
The churn slots passed and orders were posted meanwhile. (The ELT days are unit-tested: a
simulated day's run would take the shared scheduler for minutes.)"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.integration.isolated import run_tillflow
from tillflow import config
from tillflow.config import Settings
from tillflow.domain.generation.model import Catalog
from tillflow.jobs import chain
from tillflow.jobs.generators.scans import run_history

pytestmark = pytest.mark.e2e

STORES = 5
SPEEDUP = 600.0


class Keep:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def send(self, values: list[bytes], store_ids: object) -> None:
        self.ids.extend(json.loads(v)["scan_id"] for v in values)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


@pytest.fixture
def planned(stack: Settings) -> Iterator[chain.ChainState]:
    env = dict(os.environ)
    start = (datetime.now(UTC) - timedelta(hours=8)).replace(microsecond=0)
    plan = chain.ChainPlan(speedup=SPEEDUP, stores=STORES, seed=77, orders_per_second=2.0,
                           elt_grace_minutes=10**7)  # fmt: skip
    chain.state_file(stack).unlink(missing_ok=True)
    state = chain.plan_chain(stack, plan, start)
    yield state
    run_tillflow(env, "down", "chain", "ingest")
    chain.state_file(stack).unlink(missing_ok=True)


def _position(stack: Settings) -> chain.ChainState:
    state = chain.ChainState.load(chain.state_file(stack))
    assert state is not None
    return state


def test_the_chain_runs_stops_and_resumes_with_each_scan_landed_once(
    stack: Settings, planned: chain.ChainState
) -> None:
    env = dict(os.environ)
    dsn = stack.postgres.dsn(config.DB_WAREHOUSE)
    start = planned.position
    # Given the chain brought up by `up` (it and the continuous ingestion are in the stack now)
    up = run_tillflow(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "chain" in up.stdout and "ingest" in up.stdout
    time.sleep(15)
    # When it is stopped as `make down` stops it, and started again
    assert run_tillflow(env, "down", "chain").returncode == 0
    first = _position(stack).position
    assert first > start + timedelta(hours=1)
    assert run_tillflow(env, "up", "chain").returncode == 0
    time.sleep(10)
    assert run_tillflow(env, "down", "chain").returncode == 0
    state = _position(stack)
    end = state.position
    assert end > first

    # Then the history of [start, end) for its stores, and nothing else, lands exactly once
    expected = Keep()
    run_history(Catalog.from_seed(77, STORES), 77, start, end, expected)  # type: ignore[arg-type]
    assert len(expected.ids) > 1000
    deadline = time.monotonic() + 180
    while True:
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "select scan_id from raw.pos_scans where kafka_topic = %s and store_id <= %s"
                " and scanned_at >= %s and scanned_at < %s",
                (config.TOPICS.scans, STORES, start, end),
            ).fetchall()
        if len(rows) >= len(expected.ids) or time.monotonic() > deadline:
            break
        time.sleep(2)
    landed = [r[0] for r in rows]
    assert sorted(landed) == sorted(expected.ids), (len(landed), len(expected.ids))
    # And the hours passed were churned, orders were posted
    assert state.churned_through is not None
    assert datetime.fromisoformat(state.churned_through) >= start + timedelta(hours=1)
    assert state.orders_posted > 0
