"""`up`, `down` and `status` of the local stack.

`up` is idempotent: a service already running and healthy is left alone. `down` stops exactly what
`up` started (processes found through the pid files in the state folder), never an external service.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from tillflow.adapters.warehouse import ensure_databases, ensure_oltp_database
from tillflow.config import Settings
from tillflow.jobs.housekeeping.logs import rotate_folder
from tillflow.runtime import process, supervisor
from tillflow.runtime.registry import all_services, optional_services
from tillflow.runtime.services import Service, ServiceStatus

Echo = Callable[[str], None]


def _selected(settings: Settings, names: Iterable[str] | None) -> list[Service]:
    services = all_services(settings)
    if not names:
        return services
    wanted = set(names)
    unknown = wanted - {s.name for s in services} - {"airflow"}
    if unknown:
        raise process.StackError(f"unknown service(s): {', '.join(sorted(unknown))}")
    return [
        s for s in services if s.name in wanted or ("airflow" in wanted and "airflow" in s.name)
    ]


def check_java() -> None:
    if shutil.which("java") is None:
        raise process.StackError(
            "java not found on PATH: CDC (Debezium) needs Java 17; install a JDK or set JAVA_HOME"
        )


def _phases(services: list[Service]) -> list[list[Service]]:
    """Group services by ``Service.phase``: one phase starts together, phases start in order."""
    phases: dict[int, list[Service]] = {}
    for service in services:
        phases.setdefault(service.phase, []).append(service)
    return [phases[k] for k in sorted(phases)]


def up(settings: Settings, names: Iterable[str] | None = None, echo: Echo = print) -> list[str]:
    """Start what is not running; return the names of the services this call started."""
    for rotation in rotate_folder(settings.log_dir):  # the housekeeping DAG does it hourly too
        echo(f"  log {rotation.path.name} rotated ({rotation.copied_bytes:,} bytes kept in .1)")
    started: list[str] = []
    for phase in _phases(_selected(settings, names)):
        t0 = time.monotonic()
        starting: list[Service] = []
        for service in phase:
            if service.external:
                if not service.healthy():
                    raise process.StackError(
                        f"{service.name}: external server at {service.address} is not reachable; "
                        f"check its settings or unset {service.external_setting}"
                    )
                echo(f"  {service.name:<22} external   {service.address}")
            elif service.running() and service.healthy():
                supervisor.mark_wanted(settings.run_dir, service.name, True)
                echo(f"  {service.name:<22} running    {service.address} (unchanged)")
            else:
                with process.service_lock(settings.run_dir, service.name):
                    if service.running() and service.healthy():
                        echo(f"  {service.name:<22} running    {service.address} (just started)")
                        continue
                    if service.running():
                        # Alive but not answering: restart it cleanly, never start a second one.
                        service.stop()
                    service.preflight()
                    service.start()
                starting.append(service)
        for service in starting:
            process.wait_until(
                service.healthy,
                service.health_timeout,
                service.name,
                service.log_file,
                alive=service.running,
            )
            service.on_ready()
            started.append(service.name)
            # From now on the supervisor restarts it should it die (until `down` names it).
            supervisor.mark_wanted(settings.run_dir, service.name, True)
            echo(
                f"  {service.name:<22} started    {service.address} ({time.monotonic() - t0:.1f}s)"
            )
        names = {s.name for s in phase}
        if "postgres" in names:
            ensure_databases(settings)
        if "postgres-oltp" in names:
            ensure_oltp_database(settings)
    return started


def down(settings: Settings, names: Iterable[str] | None = None, echo: Echo = print) -> list[str]:
    services = _selected(settings, names)
    if not names:
        # The opt-in services (the continuous ingestion, the chain) are in the registry only
        # while they are planned; one still running after its plan was dropped is stopped too,
        # before the rest (the supervisor, last in the list, goes first).
        listed = {s.name for s in services}
        extra = [s for s in optional_services(settings) if s.name not in listed and s.pid()]
        services = [*services[:-1], *extra, services[-1]]
    stopped: list[str] = []
    for service in reversed(services):
        if service.external:
            continue
        # Under the service's lock: a supervisor about to restart it sees the marker gone.
        with process.service_lock(settings.run_dir, service.name):
            supervisor.mark_wanted(settings.run_dir, service.name, False)
        if service.stop():
            stopped.append(service.name)
            echo(f"  {service.name:<22} stopped")
    if not stopped:
        echo("  nothing of the stack was running")
    return stopped


def status(settings: Settings, names: Iterable[str] | None = None) -> list[ServiceStatus]:
    """Each service's state, with what the supervisor recorded of it (restarts, last exit)."""
    records = supervisor.read_state(settings.run_dir).get("services", {})
    rows = []
    for service in _selected(settings, names):
        row = service.status()
        rec = records.get(service.name) or {}
        if rec.get("restarts") or rec.get("last_exit"):
            row = replace(row, restarts=int(rec.get("restarts") or 0), last_exit=_last_exit(rec))
        rows.append(row)
    return rows


def _last_exit(rec: dict[str, object]) -> str | None:
    reason, at = rec.get("last_exit"), rec.get("last_exit_at")
    if not reason:
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(str(at)))) if at else "?"
    line = f"{when}: {reason}"
    if rec.get("next_try_at"):
        line += f" (next restart at {time.strftime('%H:%M:%S', time.localtime(float(str(rec['next_try_at']))))})"
    if rec.get("last_error"):
        line += f"; last restart failed: {rec['last_error']}"
    return line
