"""The Astro project's files as data: the build context Docker would send, the Dockerfile's steps,
the compose services and the connections of ``airflow_settings.yaml`` (no I/O beyond reading).

Everything here follows the Docker and Compose rules it imitates closely enough for this project's
files; where a rule is simplified, the docstring says how.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: The services of the Astro CLI's own compose file (Airflow 3 template), which the override
#: extends: a connection may name these too.
ASTRO_SERVICES = frozenset(
    {"postgres", "db-migration", "scheduler", "dag-processor", "api-server", "triggerer"}
)

#: The Airflow containers of that file: what they run is the image with the compose environment.
AIRFLOW_CONTAINERS = ("scheduler", "dag-processor", "api-server", "triggerer")

#: Where the Runtime copies the build context.
IMAGE_HOME = "/usr/local/airflow"


# --- .dockerignore and the build context ------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    negated: bool


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regex on a relative path."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def ignore_rules(text: str) -> list[IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        cleaned = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append(IgnoreRule(_pattern_regex(cleaned), negated))
    return rules


def is_ignored(relpath: str, rules: list[IgnoreRule]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = relpath.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        if any(rule.pattern.match(c) for c in candidates):
            ignored = not rule.negated
    return ignored


def context_files(root: Path) -> Iterator[str]:
    """The relative paths of the files Docker would send as the build context of ``root``."""
    ignore = root / ".dockerignore"
    rules = ignore_rules(ignore.read_text()) if ignore.exists() else []
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        rel_folder = "" if rel_folder == "." else rel_folder + "/"
        # A folder that is ignored is still walked when a later ``!`` rule may re-include a file in
        # it; the project's .dockerignore has no such rule, so ignored folders are pruned.
        dirs[:] = sorted(d for d in dirs if not is_ignored(rel_folder + d, rules))
        for name in sorted(files):
            if not is_ignored(rel_folder + name, rules):
                yield rel_folder + name


def build_context(root: Path, dest: Path) -> int:
    """Copy the build context of ``root`` to ``dest``; return the number of files."""
    count = 0
    for rel in context_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
        count += 1
    return count


# --- the Dockerfile ---------------------------------------------------------------------------

PARITY_MARK = re.compile(r"#\s*parity:\s*(replay|docker-only)\b(.*)")


@dataclass(frozen=True)
class RunStep:
    command: str
    parity: str | None  # "replay", "docker-only", or None when the step carries no mark
    note: str = ""
    line: int = 0


@dataclass
class Dockerfile:
    base_image: str = ""
    env: dict[str, str] = field(default_factory=dict)
    runs: list[RunStep] = field(default_factory=list)


def _logical_lines(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(first line number, instruction line with continuations joined, heredoc body lines)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        while line.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line.rstrip()[:-1] + " " + lines[i].strip()
        body: list[str] = []
        heredoc = (
            re.search(r"<<-?'?\"?(\w+)'?\"?", line) if not line.lstrip().startswith("#") else None
        )
        if heredoc:
            end = heredoc.group(1)
            i += 1
            while i < len(lines) and lines[i].strip() != end:
                body.append(lines[i])
                i += 1
        yield start + 1, line, body
        i += 1


def _expand(value: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def parse_dockerfile(text: str) -> Dockerfile:
    """FROM, ENV and RUN steps (with the ``# parity:`` mark of the comment before each RUN)."""
    parsed = Dockerfile()
    mark: tuple[str, str] | None = None
    for number, line, body in _logical_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            found = PARITY_MARK.search(stripped)
            if found:
                mark = (found.group(1), found.group(2).strip(" ()"))
            continue
        word, _, rest = stripped.partition(" ")
        word = word.upper()
        if word == "FROM":
            parsed.base_image = rest.split()[0]
        elif word == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                parsed.env[key] = _expand(value, parsed.env)
        elif word == "RUN":
            command = (
                rest
                if not body
                else rest.split("<<")[0].strip() + " <<'EOF'\n" + "\n".join(body) + "\nEOF"
            )
            parsed.runs.append(
                RunStep(command, mark[0] if mark else None, mark[1] if mark else "", number)
            )
            mark = None
    return parsed


# --- compose and connections ------------------------------------------------------------------


def load_compose(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text()) or {}
    return dict(data.get("services") or {})


def resolve_env(value: Any, env: Mapping[str, str] | None = None) -> str:
    """Compose interpolation: ``${VAR:-default}`` / ``${VAR}`` from ``env`` (empty when unset)."""
    env = env if env is not None else {}

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        return env.get(name) or (default or "")

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", sub, str(value))


def service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {str(k): resolve_env(v) for k, v in raw.items()}


def published_ports(service: Mapping[str, Any]) -> list[str]:
    return [str(p) for p in service.get("ports") or []]


def load_connections(settings_yaml: Path) -> list[dict[str, Any]]:
    """The connections of airflow_settings.yaml, as the Astro CLI reads them."""
    data = yaml.safe_load(settings_yaml.read_text()) or {}
    return list((data.get("airflow") or {}).get("connections") or [])


def connection_hosts(settings_yaml: Path) -> dict[str, list[str]]:
    """Per connection id of airflow_settings.yaml, the hosts it names (its host, and the hosts of
    ``bootstrap.servers``); Spark's ``local[...]`` master is not a host."""
    hosts: dict[str, list[str]] = {}
    for conn in load_connections(settings_yaml):
        found = []
        host = str(conn.get("conn_host") or "")
        if host and not host.startswith("local"):
            found.append(host.split("://")[-1].split(":")[0])
        extra = conn.get("conn_extra") or {}
        for server in str(extra.get("bootstrap.servers") or "").split(","):
            if server.strip():
                found.append(server.strip().split(":")[0])
        hosts[str(conn["conn_id"])] = found
    return hosts
