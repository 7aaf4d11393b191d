"""The dashboards as code (superset/assets) hold together, and the bundle renders them right.

Superset's import checks little before it writes: a chart naming a dataset that is not in the
bundle, or a column the dataset does not list, imports fine and fails only when the chart is
drawn. These tests catch that before a start.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tillflow import config

pytestmark = pytest.mark.unit

SUPERSET = config.PROJECT_ROOT / "superset"
ASSETS = SUPERSET / "assets"
URIS = {
    "TILLFLOW_SUPERSET_WAREHOUSE_URI": "postgresql://r:p@127.0.0.1:1/warehouse",
    "TILLFLOW_SUPERSET_OLTP_URI": "postgresql://r:p@127.0.0.1:1/oltp",
    "TILLFLOW_SUPERSET_AIRFLOW_URI": "postgresql://r:p@127.0.0.1:1/airflow",
}


def _bundle_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("superset_bundle", SUPERSET / "bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(folder: str, root: Path = ASSETS) -> dict[str, dict[str, Any]]:
    return {str(p): yaml.safe_load(p.read_text()) for p in sorted((root / folder).rglob("*.yaml"))}


def _columns_used(params: dict[str, Any]) -> set[str]:
    used = set(params.get("groupby") or []) | set(params.get("all_columns") or [])
    if isinstance(params.get("x_axis"), str):
        used.add(params["x_axis"])
    used |= {json.loads(c)[0] for c in params.get("order_by_cols") or []}
    used |= {f["subject"] for f in params.get("adhoc_filters") or []}
    return used


def _metrics_used(params: dict[str, Any]) -> set[str]:
    named = [*(params.get("metrics") or []), params.get("metric")]
    named.append(params.get("timeseries_limit_metric"))
    return {m for m in named if isinstance(m, str)}


def check_assets(root: Path) -> list[str]:
    """Every reference of the bundle resolves; return what does not."""
    problems: list[str] = []
    databases = {d["uuid"] for d in _load("databases", root).values()}
    datasets = {d["uuid"]: d for d in _load("datasets", root).values()}
    charts = {c["uuid"]: c for c in _load("charts", root).values()}
    for ds in datasets.values():
        if ds["database_uuid"] not in databases:
            problems.append(f"dataset {ds['table_name']}: no database {ds['database_uuid']}")
    for chart in charts.values():
        ds = datasets.get(chart["dataset_uuid"])
        if ds is None:
            problems.append(f"chart {chart['slice_name']}: no dataset {chart['dataset_uuid']}")
            continue
        columns = {c["column_name"] for c in ds["columns"]}
        metrics = {m["metric_name"] for m in ds["metrics"]}
        for column in sorted(_columns_used(chart["params"]) - columns):
            problems.append(f"chart {chart['slice_name']}: {ds['table_name']} has no {column}")
        for metric in sorted(_metrics_used(chart["params"]) - metrics):
            problems.append(f"chart {chart['slice_name']}: {ds['table_name']} has no {metric}")
        if chart["params"]["viz_type"] != chart["viz_type"]:
            problems.append(f"chart {chart['slice_name']}: two viz types")
    for dash in _load("dashboards", root).values():
        for key, node in dash["position"].items():
            if isinstance(node, dict) and node.get("type") == "CHART":
                uuid = node["meta"]["uuid"]
                if uuid not in charts:
                    problems.append(f"dashboard {dash['dashboard_title']}: {key} names no chart")
                elif node["meta"]["sliceName"] != charts[uuid]["slice_name"]:
                    problems.append(f"dashboard {dash['dashboard_title']}: {key} is misnamed")
    return problems


def test_every_reference_of_the_dashboards_resolves() -> None:
    assert check_assets(ASSETS) == []


def test_a_chart_naming_a_column_its_dataset_lacks_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    chart = copy / "charts" / "top_products.yaml"
    doc = yaml.safe_load(chart.read_text())
    doc["params"]["all_columns"].append("no_such_column")
    chart.write_text(yaml.safe_dump(doc))
    dash = copy / "dashboards" / "sales.yaml"
    doc = yaml.safe_load(dash.read_text())
    doc["position"]["CHART-customer_ranking"]["meta"]["uuid"] = "00000000-0000-0000-0000-0000"
    dash.write_text(yaml.safe_dump(doc))
    assert check_assets(copy) == [
        "chart Top sellers: products: top_sellers_products has no no_such_column",
        "dashboard Sales: CHART-customer_ranking names no chart",
    ]


def test_the_ui_test_expects_exactly_the_charts_of_each_dashboard() -> None:
    from tests.ui.test_dashboards import DASHBOARDS

    for path, dash in _load("dashboards").items():
        names = {
            node["meta"]["sliceName"]
            for node in dash["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        }
        assert names == DASHBOARDS[dash["slug"]], path


def test_the_bundle_fills_the_uris_and_leaves_number_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in URIS.items():
        monkeypatch.setenv(key, value)
    bundle = _bundle_module()
    out = tmp_path / "b.zip"
    assert bundle.main([str(ASSETS), str(out)]) == 0
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        warehouse = yaml.safe_load(z.read("tillflow_assets/databases/warehouse.yaml"))
        total = yaml.safe_load(z.read("tillflow_assets/charts/total_sales.yaml"))
    assert all(n.startswith("tillflow_assets/") for n in names)
    assert "tillflow_assets/metadata.yaml" in names
    assert warehouse["sqlalchemy_uri"] == URIS["TILLFLOW_SUPERSET_WAREHOUSE_URI"]
    assert total["params"]["y_axis_format"] == "$,.2f"


def test_the_digest_follows_the_rendered_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in URIS.items():
        monkeypatch.setenv(key, value)
    bundle = _bundle_module()
    digests = []
    for password in ("p", "p", "other"):
        monkeypatch.setenv("TILLFLOW_SUPERSET_OLTP_URI", f"postgresql://r:{password}@h:1/oltp")
        bundle.main([str(ASSETS), str(tmp_path / "b.zip")])
        digests.append(capsys.readouterr().out.strip())
    assert digests[0] == digests[1] != digests[2]


def test_a_missing_uri_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in URIS:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SystemExit, match="TILLFLOW_SUPERSET_AIRFLOW_URI is not set"):
        _bundle_module().render(ASSETS)
