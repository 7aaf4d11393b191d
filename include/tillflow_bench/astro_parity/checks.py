"""The static half of the Astro parity check: what the project's files must say for
``astro dev start`` to bring up the platform (each problem names the file and what to change)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tillflow_bench.astro_parity import project as p

#: Debian packages only the local stack needs (`make install` installs them; the compose file
#: runs these services as containers instead).
LOCAL_ONLY_DEBIAN = frozenset({"redis-server"})

#: The platform's own processes, which the compose file must run as services (the names are the
#: local stack's: `tillflow status` shows the same).
PLATFORM_SERVICES = ("orders-api", "cdc", "suggestions", "superset")


@dataclass(frozen=True)
class Problem:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def _requirement_names(text: str) -> set[str]:
    names = set()
    for raw in text.splitlines():
        line = raw.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def locked_airflow(root: Path) -> str | None:
    found = re.search(r"^apache-airflow==([\w.]+)", (root / "requirements.lock").read_text(), re.M)
    return found.group(1) if found else None


def check_dockerfile(root: Path, docker: p.Dockerfile) -> list[Problem]:
    problems = []
    if not docker.base_image.startswith("astrocrpublic.azurecr.io/runtime:"):
        problems.append(
            Problem("Dockerfile", f"FROM {docker.base_image}: not an Astro Runtime image")
        )
    if "python-3.11" not in docker.base_image:
        problems.append(
            Problem("Dockerfile", "the Runtime's Python 3.11 build is what the lock is for")
        )
    for step in docker.runs:
        if step.parity is None:
            problems.append(
                Problem("Dockerfile", f"line {step.line}: RUN without a `# parity:` mark")
            )
    locked = locked_airflow(root)
    guards = [s for s in docker.runs if "airflow.__version__" in s.command and s.parity == "replay"]
    if not guards or locked is None or f"'{locked}'" not in guards[0].command:
        problems.append(
            Problem(
                "Dockerfile", f"no build step stops on an Airflow other than the locked {locked}"
            )
        )
    return problems


def check_requirements(root: Path) -> list[Problem]:
    problems = []
    image = _requirement_names((root / "requirements.txt").read_text())
    local = _requirement_names((root / "requirements-local.in").read_text())
    for name in sorted(image & (local - {"apache-airflow"})):
        problems.append(
            Problem("requirements.txt", f"{name} is local-mode only (requirements-local.in)")
        )
    if "apache-airflow" in image:
        problems.append(Problem("requirements.txt", "apache-airflow comes with the Runtime image"))
    apt = {
        line.strip() for line in (root / "packages.txt").read_text().splitlines() if line.strip()
    }
    for name in sorted(apt & LOCAL_ONLY_DEBIAN):
        problems.append(Problem("packages.txt", f"{name} is local-mode only (a compose service)"))
    if not any("jre" in name or "jdk" in name for name in apt):
        problems.append(Problem("packages.txt", "no Java runtime (CDC and Spark need one)"))
    if any(name.startswith("#") for name in apt):
        problems.append(Problem("packages.txt", "comments are handed to apt-get as package names"))
    return problems


def check_compose(root: Path, docker: p.Dockerfile) -> list[Problem]:
    problems = []
    name = "docker-compose.override.yml"
    services = p.load_compose(root / name)
    known = set(services) | p.ASTRO_SERVICES
    for conn_id, hosts in p.connection_hosts(root / "airflow_settings.yaml").items():
        for host in hosts:
            if host not in known:
                problems.append(
                    Problem(name, f"connection {conn_id} names host {host}: no such service")
                )
    for key, value in docker.env.items():
        if key.endswith("_HOST") and key.startswith("TILLFLOW_") and value not in known:
            problems.append(Problem(name, f"Dockerfile {key}={value}: no such service"))
    for service in PLATFORM_SERVICES:
        if service not in services:
            problems.append(Problem(name, f"no service {service} (the platform runs it)"))
    for service_name, service in services.items():
        for port in p.published_ports(service):
            if not port.startswith("127.0.0.1:"):
                problems.append(
                    Problem(name, f"{service_name} publishes {port} on every interface")
                )
        if "build" in service and "healthcheck" not in service:
            problems.append(Problem(name, f"{service_name} has no healthcheck"))
    kafka = services.get("kafka") or {}
    advertised = p.service_environment(kafka).get("KAFKA_ADVERTISED_LISTENERS", "")
    if "127.0.0.1:" not in advertised:
        problems.append(Problem(name, "kafka advertises no listener the host can use"))
    if not kafka.get("volumes"):
        problems.append(Problem(name, "kafka keeps its log in the container (no volume)"))
    if "healthcheck" not in kafka:
        problems.append(Problem(name, "kafka has no healthcheck"))
    problems.extend(_check_docs_volume(services, docker.env, name))
    return problems


def _check_docs_volume(
    services: dict[str, Any], image_env: dict[str, str], name: str
) -> list[Problem]:
    """The task (scheduler: LocalExecutor) writes the dbt docs where the api-server serves them."""

    def env(service: str) -> dict[str, str]:
        return {**image_env, **p.service_environment(services.get(service) or {})}

    written = env("scheduler").get("TILLFLOW_DBT_DOCS_DIR")
    served = env("api-server").get("AIRFLOW__COSMOS__DBT_DOCS_DIR")
    if not written or written != served:
        return [Problem(name, f"dbt docs written to {written}, served from {served}")]
    for service in ("scheduler", "api-server"):
        volumes = (services.get(service) or {}).get("volumes") or []
        mounts = [str(v).split(":")[1] for v in volumes]
        if written not in mounts:
            return [Problem(name, f"{service} does not mount a volume at {written}")]
    return []


def check_astro_config(root: Path) -> list[Problem]:
    path = root / ".astro" / "config.yaml"
    if not path.exists():
        return [Problem(".astro/config.yaml", "missing: the Astro CLI needs it to start")]
    data = yaml.safe_load(path.read_text()) or {}
    if not (data.get("project") or {}).get("name"):
        return [Problem(".astro/config.yaml", "no project name")]
    return []


def check_project(root: Path) -> list[Problem]:
    docker = p.parse_dockerfile((root / "Dockerfile").read_text())
    return [
        *check_astro_config(root),
        *check_dockerfile(root, docker),
        *check_requirements(root),
        *check_compose(root, docker),
    ]
