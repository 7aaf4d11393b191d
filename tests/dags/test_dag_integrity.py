"""Every DAG file imports cleanly, has a doc, owner, retries, tags and no cycles (the parse-time
budget is the benchmark `tillflow bench dags`; the checker only guards against a hang)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.dags.checker import check_dag_folder
from tillflow.config import PROJECT_ROOT

pytestmark = pytest.mark.dags

DAGS = PROJECT_ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


def test_dags_folder_is_not_empty() -> None:
    assert DAG_FILES, "no DAG files found"


def test_every_dag_file_passes_the_integrity_checks() -> None:
    problems = check_dag_folder(DAGS)
    assert problems == [], "\n".join(f"{p.file}: {p.message}" for p in problems)


# --- the checker itself must catch what it claims to catch ---------------------------------

GOOD = """
from datetime import datetime
from airflow.sdk import dag, task

@dag(dag_id="{stem}", schedule=None, start_date=datetime(2026, 1, 1), doc_md="doc",
     default_args={default_args}, tags=["t"])
def d():
    @task
    def a():
        return 1
    a()

d()
"""


def _write(tmp_path: Path, stem: str, body: str) -> Path:
    folder = tmp_path / stem
    folder.mkdir()
    (folder / f"{stem}.py").write_text(textwrap.dedent(body))
    return folder


@pytest.mark.parametrize(
    ("stem", "body", "expected"),
    [
        ("import_error", "import does_not_exist_anywhere\n", "import error"),
        ("no_owner", GOOD.replace("{default_args}", '{"retries": 2}'), "no owner"),
        ("no_retries", GOOD.replace("{default_args}", '{"owner": "x"}'), "no retries"),
        (
            "no_tags",
            GOOD.replace("{default_args}", '{"owner": "x", "retries": 2}').replace(
                'tags=["t"]', "tags=[]"
            ),
            "no tags",
        ),
    ],
)
def test_checker_reports_a_bad_dag(tmp_path: Path, stem: str, body: str, expected: str) -> None:
    # Given a DAG file with one defect
    folder = _write(tmp_path, stem, body.replace("{stem}", stem))
    # When the folder is checked
    problems = check_dag_folder(folder)
    # Then the defect is reported for that file
    assert any(expected in p.message for p in problems), problems


def test_checker_accepts_a_good_dag(tmp_path: Path) -> None:
    body = GOOD.replace("{default_args}", '{"owner": "x", "retries": 2}').replace("{stem}", "good")
    assert check_dag_folder(_write(tmp_path, "good", body)) == []
