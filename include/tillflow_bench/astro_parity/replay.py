"""The dynamic half of the Astro parity check: the image's build replayed into a fresh
environment, then the DAGs imported there with the environment compose gives the Airflow
containers.

1. the build context, exactly what Docker would send (``.dockerignore`` applied), copied to a
   folder that stands for ``/usr/local/airflow``;
2. a fresh virtualenv holding only what the image installs: the locked Airflow (the Runtime's,
   which the Dockerfile's guard step pins) and ``requirements.txt`` as the Runtime's ONBUILD step
   installs it (no lock file: the image gets what the resolver picks that day), plus pytest to run
   the integrity test;
3. the Dockerfile's ``# parity: replay`` steps, run in that folder with that environment;
4. the DAG integrity test (``tests/dags``) and ``airflow dags list-import-errors --local``, with the
   Dockerfile's ENV and the scheduler's compose environment, every compose service host pointed at
   the loopback port it publishes (the local stack's).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow_bench.astro_parity import project as p
from tillflow_bench.astro_parity.checks import locked_airflow


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Replay:
    steps: list[Step] = field(default_factory=list)
    import_errors: list[dict[str, Any]] = field(default_factory=list)
    progress: Callable[[Step], None] | None = None

    def add(self, step: Step) -> bool:
        self.steps.append(step)
        if self.progress is not None:
            self.progress(step)
        return step.ok

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and not self.import_errors

    def lines(self) -> list[str]:
        out = [step_line(s) for s in self.steps]
        for error in self.import_errors:
            out.append(f"  import error: {error.get('filepath')}: {_last_line(error.get('error'))}")
        return out


def step_line(step: Step) -> str:
    line = f"  {'ok ' if step.ok else 'FAIL'} {step.name:<58} {step.seconds:7.1f}s"
    if step.detail and not step.ok:
        line += "\n" + _indent(step.detail)
    return line


def _indent(text: str, limit: int = 40) -> str:
    lines = text.strip().splitlines()[-limit:]
    return "\n".join(f"       | {line}" for line in lines)


def _last_line(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[-1] if lines else ""


def _run(
    name: str, cmd: Sequence[str] | str, cwd: Path, env: Mapping[str, str], timeout: float = 900
) -> Step:
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=dict(env),
        shell=isinstance(cmd, str),
        executable="/bin/bash" if isinstance(cmd, str) else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Step(name, time.perf_counter() - t0, proc.returncode == 0, proc.stdout + proc.stderr)


def loopback_addresses(services: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(service, container port) -> the host port it publishes on 127.0.0.1; a service's port
    that is not published maps to the service's first published one (Kafka's host listener)."""
    found: dict[tuple[str, str], str] = {}
    for name, service in services.items():
        first = None
        for port in p.published_ports(service):
            _, host_port, container_port = port.split(":")
            found[(name, container_port)] = host_port
            first = first or host_port
        if first:
            found[(name, "*")] = first
    return found


def _published(addresses: Mapping[tuple[str, str], str], host: str, port: str) -> str:
    return addresses.get((host, port)) or addresses.get((host, "*")) or port


def container_env(
    ctx: Path, venv: Path, work: Path, services: Mapping[str, Any], image_env: Mapping[str, str]
) -> dict[str, str]:
    """The scheduler container's environment with the image's paths and hosts made local."""
    addresses = loopback_addresses(services)
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(work / "home"),
        "LANG": "C.UTF-8",
    }
    merged = {**image_env, **p.service_environment(services.get("scheduler") or {})}
    for key, value in merged.items():
        env[key] = value.replace(p.IMAGE_HOME, str(ctx))
    for key, value in list(env.items()):
        if key.startswith("TILLFLOW_") and key.endswith("_HOST") and value in services:
            port_key = key[: -len("_HOST")] + "_PORT"
            env[port_key] = _published(addresses, value, env.get(port_key, ""))
            env[key] = "127.0.0.1"
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow_home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ctx / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }
    )
    env.update(connections_env(ctx / "airflow_settings.yaml", addresses))
    return env


def connections_env(
    settings_yaml: Path, addresses: Mapping[tuple[str, str], str]
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for the connections of airflow_settings.yaml, hosts made local."""
    env = {}
    for conn in p.load_connections(settings_yaml):
        host = str(conn.get("conn_host") or "")
        port = str(conn.get("conn_port") or "")
        extra = dict(conn.get("conn_extra") or {})
        if (host, "*") in addresses:
            port = _published(addresses, host, port)
            host = "127.0.0.1"
        if "bootstrap.servers" in extra:
            servers = []
            for server in str(extra["bootstrap.servers"]).split(","):
                name, _, server_port = server.strip().partition(":")
                if (name, "*") in addresses:
                    server = f"127.0.0.1:{_published(addresses, name, server_port)}"
                servers.append(server)
            extra["bootstrap.servers"] = ",".join(servers)
        payload = {
            "conn_type": conn.get("conn_type"),
            "host": host or None,
            "port": int(port) if port.isdigit() else None,
            "schema": conn.get("conn_schema"),
            "login": conn.get("conn_login"),
            "password": conn.get("conn_password"),
            "extra": extra or None,
        }
        env[f"AIRFLOW_CONN_{str(conn['conn_id']).upper()}"] = json.dumps(
            {k: v for k, v in payload.items() if v is not None}
        )
    return env


def make_venv(venv: Path, requirements: Path, airflow_version: str) -> Step:
    """A fresh virtualenv with the image's packages (uv, from this project's own venv)."""
    uv = str(Path(sys.executable).parent / "uv")
    t0 = time.perf_counter()
    if venv.exists():
        shutil.rmtree(venv)
    steps = [
        [uv, "venv", "-q", "--python", sys.executable, str(venv)],
        [
            # pip (the Runtime's installer) compiles bytecode; a venv without it parses DAGs slower.
            uv, "pip", "install", "-q", "--compile-bytecode", "-p", str(venv / "bin" / "python"),
            f"apache-airflow=={airflow_version}", "-r", str(requirements), "pytest",
        ],
    ]  # fmt: skip
    out = []
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, check=False)
        out.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            return Step(
                "fresh venv: Airflow + requirements.txt",
                time.perf_counter() - t0,
                False,
                "".join(out),
            )
    return Step("fresh venv: Airflow + requirements.txt", time.perf_counter() - t0, True)


def parse_import_errors(output: str) -> list[dict[str, Any]]:
    """``airflow dags list-import-errors -o json`` prints a JSON list, or "No data found"."""
    for line in output.splitlines():
        if line.startswith("["):
            return list(json.loads(line))
    if "No data found" in output:
        return []
    return [{"filepath": "?", "error": output.strip() or "no output"}]


def replay(
    root: Path,
    work: Path,
    *,
    venv: Path | None = None,
    progress: Callable[[Step], None] | None = None,
) -> Replay:
    """Replay the image of ``root`` under ``work``; reuse ``venv`` when given (built by
    :func:`make_venv` for the same requirements.txt). ``progress`` sees each step as it ends."""
    result = Replay(progress=progress)
    ctx = work / "context"
    if ctx.exists():
        shutil.rmtree(ctx)
    t0 = time.perf_counter()
    files = p.build_context(root, ctx)
    result.add(
        Step(
            f"build context ({files} files, .dockerignore applied)", time.perf_counter() - t0, True
        )
    )
    (work / "home").mkdir(parents=True, exist_ok=True)
    airflow_version = locked_airflow(ctx) or "?"
    if venv is None:
        venv = work / "venv"
        if not result.add(make_venv(venv, ctx / "requirements.txt", airflow_version)):
            return result
    docker = p.parse_dockerfile((ctx / "Dockerfile").read_text())
    services = p.load_compose(ctx / "docker-compose.override.yml")
    env = container_env(ctx, venv, work, services, docker.env)
    for step in docker.runs:
        if step.parity != "replay":
            result.add(Step(f"Dockerfile line {step.line}: not replayed ({step.note})", 0.0, True))
            continue
        command = step.command.replace(p.IMAGE_HOME, str(ctx))
        if not result.add(
            _run(f"Dockerfile line {step.line}: RUN {_short(command)}", command, ctx, env)
        ):
            return result
    python = str(venv / "bin" / "python")
    result.add(
        _run("DAG integrity test (pytest tests/dags)",
             [python, "-m", "pytest", "tests/dags", "-q", "-p", "no:cacheprovider"], ctx, env)
    )  # fmt: skip
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow = str(venv / "bin" / "airflow")
    result.add(_run("airflow db migrate (sqlite)", [airflow, "db", "migrate"], ctx, env))
    listing = _run(
        "airflow dags list-import-errors --local",
        [airflow, "dags", "list-import-errors", "--local", "-o", "json"], ctx, env,
    )  # fmt: skip
    # The command exits 1 when it lists errors: the listing is the verdict, not the exit code.
    result.import_errors = parse_import_errors(listing.detail)
    result.add(Step(listing.name, listing.seconds, not result.import_errors, listing.detail))
    return result


def _short(command: str, width: int = 38) -> str:
    first = command.splitlines()[0]
    return first if len(first) <= width else first[: width - 1] + "…"
