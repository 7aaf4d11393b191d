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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.airflow_runs import NO_INGESTION_WAIT, run_alone
from tests.ui.webdriver import Browser, WebDriverError, chromium
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

#: For each chart of the dashboard: its title, an error's text, "No results", and what its body
#: drew (not the header, whose title and icons would count): table rows, canvas charts, a big
#: number. Null until at least arguments[0] charts are there and each is done (drew, or said
#: why not: a chart's canvas comes a moment after its query), unless arguments[1] asks for the
#: states as they stand.
CHART_STATES_JS = """
const holders = Array.from(document.querySelectorAll('.dashboard-component-chart-holder'));
if (holders.length < arguments[0] && !arguments[1]) return null;
const states = holders.map(h => {
  const body = h.querySelector('[data-test="slice-container"]');
  const text = body ? body.innerText : '';
  const error = h.querySelector('.ant-alert-error, .alert-danger, [data-test="error-tooltip"]');
  const big = body && body.querySelector('.big_number_total');
  return {
    title: (h.querySelector('[data-test="editable-title"]') || {innerText: ''}).innerText.trim(),
    loading: !!h.querySelector('.loading, [data-test="loading-indicator"]'),
    error: error ? error.innerText.slice(0, 300) : null,
    empty: /No results were returned|There is currently no information/.test(h.innerText),
    rows: body ? body.querySelectorAll('tbody tr').length : 0,
    marks: body ? body.querySelectorAll('canvas').length : 0,
    number: big ? (text.match(/[0-9][0-9,.]*/) || [''])[0] : '',
  };
});
const done = s => !s.loading && (s.error || s.empty || s.rows || s.marks || s.number);
return arguments[1] || states.every(done) ? states : null;
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
        row = conn.execute(query).fetchone()
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
    # The marts of the scans' day and of the orders' (today): dbt outside Airflow, whatever
    # earlier tests left in the marts.
    day = yesterday.replace(hour=0)
    _tillflow("elt", "build", day.date().isoformat(), "--days", "2")
    client = _airflow(stack)
    try:
        # The ELT durations chart needs one finished run through the scheduler.
        client.wait_for_dag(ELT_DAG)
        finished = [r for r in client.latest_runs(ELT_DAG, 20) if r["state"] == "success"]
        if not finished:
            # The fixture ingested what it made; the run need not wait for scans of a later
            # day, which a stack that ran nothing else never gets.
            _, state = run_alone(client, ELT_DAG, day, NO_INGESTION_WAIT)
            assert state == "success"
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
    ss = chain_data.superset
    browser.login(
        f"{ss.base_url}/login/",
        ("[data-test=username-input]", ss.admin_user),
        ("[data-test=password-input]", ss.admin_password),
        "[data-test=login-button]",
    )
    return browser


def _drew_data(state: dict[str, Any]) -> bool:
    if state["error"] or state["empty"]:
        return False
    return bool(state["rows"] or state["marks"] or state["number"])


@pytest.mark.parametrize("slug", list(DASHBOARDS))
def test_every_chart_of_the_dashboard_draws_data(
    chain_data: Settings, superset: Browser, shots: Path, slug: str
) -> None:
    superset.get(f"{chain_data.superset.base_url}/superset/dashboard/{slug}/")
    expected = len(DASHBOARDS[slug])
    try:
        states: list[dict[str, Any]] = superset.wait_for(
            CHART_STATES_JS, 180, "every chart to draw", expected, False
        )
    except WebDriverError:
        states = superset.run(CHART_STATES_JS, expected, True)  # the assertions say which chart
    superset.screenshot(shots / f"superset-{slug}.png")
    titles = {s["title"] for s in states}
    assert titles == DASHBOARDS[slug], f"charts on {slug}: {sorted(titles)}"
    failed = {s["title"]: s for s in states if not _drew_data(s)}
    assert not failed, f"{slug}: charts without data: {failed}"


def test_the_airflow_ui_lists_the_platform_dags(
    chain_data: Settings, browser: Browser, shots: Path
) -> None:
    af = chain_data.airflow
    browser.login(
        f"{af.base_url}/auth/login/",
        ("input[name=username]", af.admin_user),
        ("input[name=password]", af.admin_password),
        "button[type=submit]",
    )
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
