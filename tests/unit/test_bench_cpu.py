"""The ceilings `tillflow bench day` derives from a stage's CPU (pure arithmetic)."""

from __future__ import annotations

import os

import pytest

from tillflow_bench.cpu import CpuUse, ingest_lines

pytestmark = pytest.mark.unit


def test_ceilings_follow_the_costs_per_scan() -> None:
    cores = os.cpu_count() or 1
    use = CpuUse(
        busy=380.0,
        available=400.0,
        children=100.0,  # the generator
        services={"kafka": 50.0, "ingest": 150.0, "postgres": 50.0, "airflow-scheduler": 10.0},
    )
    lines = ingest_lines(use, scans=10_000_000, seconds=200.0)
    assert "busy 380 of 400 core-seconds (95%)" in lines[0]
    assert "the rest of the stack 30" in lines[0]
    assert "generation and broker 15.0 core-s" in lines[1]
    assert "ingestion (Spark + PostgreSQL) 20.0 core-s" in lines[1]
    # 200 core-s of ingestion for 10M scans: 50,000 scans a core-second
    assert f"itself {cores * 50_000:,} scans/s" in lines[2]
    assert f"at once {round(cores * 10_000_000 / 350):,} scans/s" in lines[2]


def test_no_ceiling_without_ingestion_cpu() -> None:
    use = CpuUse(busy=10.0, available=20.0, children=0.0, services={})
    assert len(ingest_lines(use, scans=0, seconds=5.0)) == 1


def test_other_is_what_no_service_accounts_for() -> None:
    use = CpuUse(busy=100.0, available=200.0, children=20.0, services={"kafka": 30.0})
    assert use.other == 50.0
    assert use.of("kafka", "ingest") == 30.0
