"""The import contracts of pyproject.toml (`make lint` runs them) hold, and each one breaks when a
forbidden import is added to a copy of the code."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tillflow import config

pytestmark = pytest.mark.unit

ROOT = config.PROJECT_ROOT
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
#: Where each root package of the contracts lives, relative to the project root.
PACKAGES = {
    "tillflow": "include/tillflow",
    "tillflow_airflow": "include/tillflow_airflow",
    "tillflow_bench": "include/tillflow_bench",
    "spark": "spark",
}


def lint_imports(project: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    # The copy's folders first on the path, ahead of the editable install of the real tree.
    env = {**os.environ, "PYTHONPATH": f"{project / 'include'}{os.pathsep}{project}"}
    argv = [LINT_IMPORTS, "--no-cache", "--config", str(project / "pyproject.toml")]
    for contract in contracts:
        argv += ["--contract", contract]
    return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's packages and its pyproject.toml."""
    for rel in PACKAGES.values():
        shutil.copytree(
            ROOT / rel, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(project: Path, module: str, statement: str) -> None:
    path = project / PACKAGES[module.split(".")[0]] / Path(*module.split(".")[1:])
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    file.write_text(file.read_text() + f"\n{statement}  # noqa\n")


def test_the_project_keeps_every_contract(project: Path) -> None:
    # Given the code as it is; When the contracts are checked; Then all of them hold
    result = lint_imports(project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("contract", "module", "statement"),
    [
        ("layers", "tillflow.domain.suggestions.rule", "from tillflow.adapters import kafka"),
        ("layers", "tillflow.adapters.kafka", "from tillflow.jobs.ingest import sink"),
        ("layers", "tillflow.jobs.ingest.sink", "from tillflow.runtime import manager"),
        ("layers", "tillflow.runtime.process", "from tillflow.entrypoints import cli"),
        ("config-is-the-base", "tillflow.config", "import tillflow.jobs.elt.dbt"),
        ("domain-is-pure", "tillflow.domain.events.scans", "import psycopg"),
        ("no-airflow-in-tillflow", "tillflow.jobs.elt.dbt", "import airflow"),
        (
            "shipped-code-never-imports-benches",
            "tillflow.jobs.ingest.sink",
            "import tillflow_bench",
        ),
        ("shipped-code-never-imports-benches", "spark.ingest", "from tillflow_bench import ingest"),
        ("jobs-below-the-runtime", "tillflow_airflow.connections", "import tillflow.runtime"),
        ("no-cycles", "tillflow.runtime.process", "from tillflow.runtime import registry"),
        ("no-cycles", "tillflow.jobs.cdc.settings", "from tillflow.jobs.cdc import engine"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    project: Path, contract: str, module: str, statement: str
) -> None:
    # Given a copy of the code with one forbidden import added
    add_import(project, module, statement)
    # When that contract is checked; Then it is reported broken
    result = lint_imports(project, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    # ... and the report names the importing module (a cycle: the package it closes in)
    package = module.rsplit(".", 1)[0]
    expected = f"cycles are allowed in {package}." if contract == "no-cycles" else f"{module} ->"
    assert expected in result.stdout, result.stdout


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("dag_file", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_dags_never_import_the_benches(dag_file: Path) -> None:
    # dags/ is not a package, so the contracts do not see it: check its imports directly
    benches = {m for m in imported_modules(dag_file) if m.split(".")[0] == "tillflow_bench"}
    assert benches == set()
