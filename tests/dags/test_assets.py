"""The assets name the tables that exist: the raw tables the warehouse migrations create and the
marts the dbt project builds (so the asset graph in the UI matches the warehouse)."""

from __future__ import annotations

import json
import re

import pytest

from tillflow.config import PROJECT_ROOT
from tillflow_airflow import assets

pytestmark = pytest.mark.dags


def test_the_raw_assets_are_the_tables_the_migrations_create() -> None:
    sql = "\n".join(p.read_text() for p in (PROJECT_ROOT / "include").rglob("*.sql"))
    sql += "\n".join(p.read_text() for p in (PROJECT_ROOT / "include").rglob("*.py"))
    created = set(re.findall(r"create table (?:if not exists )?raw\.(\w+)", sql, re.I))
    assert created == set(assets.RAW_TABLES)


def test_the_mart_assets_are_the_marts_dbt_builds() -> None:
    manifest = json.loads((PROJECT_ROOT / "dbt_project" / "target" / "manifest.json").read_text())
    marts = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"].endswith("marts")
    }
    assert marts == set(assets.MARTS)


def test_the_elt_reads_raw_and_vouches_for_the_marts() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "tillflow_elt_daily.py"), safe_mode=False)
    dag = bag.dags["tillflow_elt_daily"]
    gate = dag.get_task("gx_marts_gate")
    assert {a.name for a in gate.outlets} == {f"marts.{m}" for m in assets.MARTS}
    assert {a.name for a in gate.inlets} == {f"raw.{t}" for t in assets.RAW_TABLES}
    ingest = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "tillflow_ingest.py"), safe_mode=False)
    summary = ingest.dags["tillflow_ingest"].get_task("summary")
    assert {a.name for a in summary.outlets} == {f"raw.{t}" for t in assets.RAW_TABLES}
