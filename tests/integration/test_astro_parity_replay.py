"""The image of `astro dev start`, replayed without a Docker engine: a fresh venv with only what the
image installs, the Dockerfile's replayable steps, then every DAG imported with the compose
environment. It passes on the project, and fails when the manifest step leaves the Dockerfile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tillflow.config import PROJECT_ROOT
from tillflow_bench.astro_parity import checks, replay
from tillflow_bench.astro_parity import project as p

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fresh venv for the module (the replays differ in their Dockerfile only)."""
    path = tmp_path_factory.mktemp("parity") / "venv"
    airflow = checks.locked_airflow(PROJECT_ROOT)
    assert airflow is not None
    step = replay.make_venv(path, PROJECT_ROOT / "requirements.txt", airflow)
    assert step.ok, step.detail[-4000:]
    return path


def test_the_replayed_image_imports_every_dag(venv: Path, tmp_path: Path) -> None:
    result = replay.replay(PROJECT_ROOT, tmp_path, venv=venv)
    assert result.ok, "\n".join(result.lines())
    names = [s.name for s in result.steps]
    assert any("dbt parse" in n for n in names), names
    assert any(n.startswith("DAG integrity test") for n in names), names
    assert result.import_errors == []


def test_without_the_manifest_step_the_elt_dag_does_not_import(venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    p.build_context(PROJECT_ROOT, project)
    dockerfile = project / "Dockerfile"
    kept = [line for line in dockerfile.read_text().splitlines() if "dbt parse" not in line]
    dockerfile.write_text("\n".join(kept) + "\n")

    result = replay.replay(project, tmp_path / "work", venv=venv)

    assert not result.ok
    errors = {Path(str(e["filepath"])).name: str(e["error"]) for e in result.import_errors}
    assert "manifest" in errors.get("tillflow_elt_daily.py", ""), errors
    integrity = next(s for s in result.steps if s.name.startswith("DAG integrity test"))
    assert not integrity.ok
