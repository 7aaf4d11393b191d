"""The dashboards as a person sees them: headless Chromium logs into Superset and Airflow on
127.0.0.1, opens the Sales and Operations dashboards, and checks that every chart drew data.

The data comes through the real chain first: orders through the orders API (the suggestion
service decides them), live scans with malformed ones into the broker, ingestion into the
warehouse (micro-batches, dead letters), and a daily ELT run through the scheduler when none has
finished yet. Screenshots go to TILLFLOW_SCREENSHOT_DIR (default .tillflow/screenshots);
the README's pictures are such screenshots (`TILLFLOW_SCREENSHOT_DIR=docs/images`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.ui.webdriver import Browser, chromium
from tillflow import config
from tillflow.adapters.airflow_api import AirflowClient
from tillflow.config import Settings

pytestmark = pytest.mark.ui

ELT_DAG = "tillflow_elt_daily"
#: Each dashboard's slug and the charts it must show (their titles, as in superset/assets).
DASHBOARDS: dict[str, set[str]] = {
    "sales": {
        "Total sales",
        "Live total sales",
        "Most common payment methods",
        "Sales by day of week",
        "Top 5 most profitable products by category",
        "Top sellers: products",
        "Top sellers: stores",
        "Customer ranking",
    },
    "operations": {
        "Ingestion: rows landed per minute",
        "Ingestion: lag behind the broker",
        "Dead letters by reason",
        "Suggestion latency",
        "Daily ELT runs: duration",
    },
}

#: For every chart holder of the dashboard: its title, whether it is still loading, an error's
#: text, "No results", and what it drew (table rows, chart marks, a big number's text).
CHART_STATES_JS = """
const holders = Array.from(document.querySelectorAll('.dashboard-component-chart-holder'));
return holders.map(h => {
  const text = h.innerText || '';
  const error = h.querySelector('.ant-alert-error, .alert-danger, [data-test="error-tooltip"]');
  return {
    title: text.split('\\n')[0].trim(),
    loading: !!h.querySelector('.loading, [data-test="loading-indicator"]'),
    error: error ? error.innerText.slice(0, 300) : null,
    empty: /No results were returned|There is currently no information/.test(text),
    rows: h.querySelectorAll('tbody tr').length,
    marks: h.querySelectorAll('canvas, svg path').length,
    number: (text.match(/\\$?[0-9][0-9,.]*/) || [''])[0],
  };
});
"""


def _tillflow(*args: str, timeout: float = 600) -> str:
    exe = str(Path(sys.executable).parent / "tillflow")
    done = subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"tillflow {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


def _airflow(settings: Settings) -> AirflowClient:
    af = settings.airflow
    return AirflowClient(af.base_url, af.admin_user, af.admin_password)


@pytest.fixture(scope="module")
def chain_data(stack: Settings) -> Settings:
    """What the dashboards show, made by the platform itself (see the module's docstring)."""
    pg = stack.postgres
    _tillflow("generate", "reference")
    _tillflow("generate", "orders", "--count", "40", "--qualify-share", "0.5", "-q")
    # Midday in the stores' time zones, 60x the wall clock: a few thousand scans in 3 s, 5 % of
    # them late or malformed (the dead-letter path).
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    _tillflow(
        "generate", "live", "--duration", "3", "--stores", "20", "--speedup", "60",
        "--start", yesterday.isoformat(), "--bad-share", "0.05", "--max-rate", "2000",
    )  # fmt: skip
    _tillflow("ingest", "--mode", "available-now")
    warehouse = pg.dsn(config.DB_WAREHOUSE)
    assert _count(warehouse, "select count(*) from raw.dead_letters") > 0
    client = _airflow(stack)
    try:
        finished = [r for r in client.latest_runs(ELT_DAG, 20) if r["state"] == "success"]
        if not finished:
            day = yesterday.replace(hour=0)
            paused = client.is_paused(ELT_DAG)
            client.unpause(ELT_DAG)  # a paused DAG's triggered run stays queued
            run_id = client.run_interval(
                ELT_DAG, day.isoformat(), (day + timedelta(days=1)).isoformat()
            )
            try:
                assert client.wait_for_run(ELT_DAG, run_id, timeout=1200) == "success"
            finally:
                client.set_paused(ELT_DAG, paused)
    finally:
        client.close()
    return stack


@pytest.fixture(scope="module")
def shots() -> Path:
    default = config.PROJECT_ROOT / ".tillflow" / "screenshots"
    return Path(os.environ.get("TILLFLOW_SCREENSHOT_DIR", str(default)))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Tall enough that every row of a dashboard is in view: Superset draws a chart only once it
    # is on screen.
    with chromium(1600, 1500) as b:
        yield b


@pytest.fixture(scope="module")
def superset(chain_data: Settings, browser: Browser) -> Browser:
    """The browser, logged into Superset once for the module."""
    _login_superset(browser, chain_data)
    return browser


def _login_superset(b: Browser, settings: Settings) -> None:
    ss = settings.superset
    b.get(f"{ss.base_url}/login/")
    b.wait_for("return document.querySelector('[data-test=username-input]')", 60, "login form")
    b.type("[data-test=username-input]", ss.admin_user)
    b.type("[data-test=password-input]", ss.admin_password)
    b.click("[data-test=login-button]")
    b.wait_for("return !location.pathname.startsWith('/login')", 60, "Superset's login")


def _chart_states(b: Browser, expected: int) -> list[dict[str, Any]]:
    def settled() -> list[dict[str, Any]] | None:
        states: list[dict[str, Any]] = b.run(CHART_STATES_JS)
        return None if len(states) < expected or any(s["loading"] for s in states) else states

    states: list[dict[str, Any]] = _poll(settled, 180, "every chart to finish loading")
    return states


def _poll(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _drew_data(state: dict[str, Any]) -> bool:
    if state["error"] or state["empty"]:
        return False
    return bool(state["rows"] or state["marks"] or state["number"])


@pytest.mark.parametrize("slug", list(DASHBOARDS))
def test_every_chart_of_the_dashboard_draws_data(
    chain_data: Settings, superset: Browser, shots: Path, slug: str
) -> None:
    superset.get(f"{chain_data.superset.base_url}/superset/dashboard/{slug}/")
    states = _chart_states(superset, len(DASHBOARDS[slug]))
    superset.screenshot(shots / f"superset-{slug}.png")
    titles = {s["title"] for s in states}
    assert titles == DASHBOARDS[slug], f"charts on {slug}: {sorted(titles)}"
    failed = {s["title"]: s for s in states if not _drew_data(s)}
    assert not failed, f"{slug}: charts without data: {failed}"


def test_the_airflow_ui_lists_the_platform_dags(
    chain_data: Settings, browser: Browser, shots: Path
) -> None:
    af = chain_data.airflow
    browser.get(f"{af.base_url}/auth/login/")
    browser.wait_for("return document.querySelector('input[name=username]')", 60, "login form")
    browser.type("input[name=username]", af.admin_user)
    browser.type("input[name=password]", af.admin_password)
    browser.click("button[type=submit]")
    browser.wait_for("return !location.pathname.includes('/login')", 60, "Airflow's login")
    browser.get(f"{af.base_url}/dags")
    names = browser.wait_for(
        "const t = document.body.innerText; return t.includes(arguments[0]) && t;",
        60,
        "the DAG list",
        ELT_DAG,
    )
    browser.screenshot(shots / "airflow-dags.png")
    for dag_id in (ELT_DAG, "tillflow_ingest", "tillflow_suggestions"):
        assert dag_id in names
