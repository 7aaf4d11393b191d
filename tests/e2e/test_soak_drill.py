"""The soak drill's short version (`tillflow drill soak`), last in the run: 6 simulated hours
of 5 stores at 1440x (15 wall seconds of chain), a fault every 45 simulated minutes (the broker,
CDC, the suggestion service, the continuous ingestion, the scheduler killed with SIGKILL, Redis
restarted, the chain itself stopped and resumed, in a seeded order),
nobody repairing anything; no day's ELT (the DAG's own tests cover it). Without the PostgreSQL
restart: a broker killed while PostgreSQL is down takes records ingestion could not see (it
needs the database to read), which the full drill reports as uncounted loss. The drill's own verdict is
the test: every scan produced landed once or is counted lost with a killed broker, the broker
within its budget. The full drill (3 days of 100 stores, 1 day of 1000) is a command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tillflow.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.soak]


def test_the_short_soak_drill_passes(stack: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tillflow.entrypoints.cli", "drill", "soak", "--days", "0.25",
         "--stores", "5", "--speedup", "1440", "--fault-hours", "0.75", "--seed", "7",
         "--orders-per-second", "2", "--no-elt",
         "--faults", "kafka,cdc,suggestions,ingest,airflow-scheduler,redis,chain"],
        capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert "verdict: OK" in out, out[-4000:]
    assert result.returncode == 0
    assert out.count(" fault: ") >= 7, out[-4000:]  # each kind once
