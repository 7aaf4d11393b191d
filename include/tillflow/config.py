"""All of tillflow's settings in one place: ports, hosts, roles, connection ids, topics, schemas.

Every value has a local default and an environment variable that overrides it (listed in the
README). A service marked external (``TILLFLOW_<SERVICE>_EXTERNAL=1``) is used as configured and
never started by the local stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: The project root: ``include/tillflow/config.py`` -> two levels up from ``include``.
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]

# --- Airflow connection ids (the DAGs reference these, never credentials) -------------------
CONN_OLTP: Final = "postgres_oltp"
CONN_WAREHOUSE: Final = "postgres_warehouse"
#: The warehouse as its administrator: migrations only (the tables they create are the admin's).
CONN_WAREHOUSE_ADMIN: Final = "postgres_warehouse_admin"
#: The orders API (an http connection: host, port and schema = the URL scheme).
CONN_ORDERS_API: Final = "orders_api"
CONN_KAFKA: Final = "kafka_default"
#: The suggestion DAG's sensor consumes in a group of its own (a shared group never gets messages).
CONN_KAFKA_SUGGESTIONS: Final = "kafka_suggestions"
CONN_REDIS: Final = "redis_default"
CONN_SPARK: Final = "spark_default"

# --- Databases and warehouse schemas --------------------------------------------------------
DB_OLTP: Final = "oltp"
DB_WAREHOUSE: Final = "warehouse"
DB_AIRFLOW: Final = "airflow"
SCHEMA_RAW: Final = "raw"
SCHEMA_STAGING: Final = "staging"
SCHEMA_SNAPSHOTS: Final = "snapshots"
SCHEMA_CORE: Final = "core"
SCHEMA_MARTS: Final = "marts"
SCHEMA_SERVING: Final = "serving"
SCHEMA_OPS: Final = "ops"


@dataclass(frozen=True)
class Topics:
    """Kafka topic names. CDC topics follow Debezium's ``<prefix>.<schema>.<table>`` scheme."""

    scans: str = "pos.scans"
    orders: str = "oltp.public.order_events"
    suggestions_accepted: str = "order_suggestion_accepted"
    cdc_prefix: str = "oltp"
    smoke: str = "tillflow.smoke"

    def cdc(self, table: str, schema: str = "public") -> str:
        return f"{self.cdc_prefix}.{schema}.{table}"


TOPICS: Final = Topics()


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _env_flag(name: str) -> bool:
    return _env(name, "0").lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Role:
    """A PostgreSQL login role of the platform."""

    name: str
    password: str


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    admin_user: str
    admin_password: str
    external: bool
    airflow: Role
    api: Role
    ingest: Role
    dbt: Role

    def dsn(self, database: str, role: Role | None = None) -> str:
        """A libpq key/value DSN (TCP, never a socket path: Cosmos dataset URIs need a host)."""
        user = role.name if role else self.admin_user
        password = role.password if role else self.admin_password
        parts = [f"host={self.host}", f"port={self.port}", f"dbname={database}", f"user={user}"]
        if password:
            parts.append(f"password={password}")
        return " ".join(parts)

    def url(self, database: str, role: Role, driver: str = "postgresql") -> str:
        return f"{driver}://{role.name}:{role.password}@{self.host}:{self.port}/{database}"


@dataclass(frozen=True)
class KafkaSettings:
    host: str
    port: int
    external: bool

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RedisSettings:
    host: str
    port: int
    external: bool


@dataclass(frozen=True)
class AirflowSettings:
    host: str
    port: int
    external: bool
    admin_user: str
    admin_password: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one tillflow installation."""

    home: Path
    postgres: PostgresSettings
    kafka: KafkaSettings
    redis: RedisSettings
    airflow: AirflowSettings
    spark_master: str
    topics: Topics = field(default_factory=Topics)

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(_env("TILLFLOW_HOME", str(PROJECT_ROOT / ".tillflow"))).resolve()
        postgres = PostgresSettings(
            host=_env("TILLFLOW_PG_HOST", "127.0.0.1"),
            port=_env_int("TILLFLOW_PG_PORT", 55432),
            admin_user=_env("TILLFLOW_PG_ADMIN_USER", "postgres"),
            admin_password=_env("TILLFLOW_PG_ADMIN_PASSWORD", "postgres"),
            external=_env_flag("TILLFLOW_PG_EXTERNAL"),
            airflow=Role("airflow", _env("TILLFLOW_PG_AIRFLOW_PASSWORD", "airflow")),
            api=Role("tillflow_api", _env("TILLFLOW_PG_API_PASSWORD", "tillflow_api")),
            ingest=Role("tillflow_ingest", _env("TILLFLOW_PG_INGEST_PASSWORD", "tillflow_ingest")),
            dbt=Role("tillflow_dbt", _env("TILLFLOW_PG_DBT_PASSWORD", "tillflow_dbt")),
        )
        kafka = KafkaSettings(
            host=_env("TILLFLOW_KAFKA_HOST", "127.0.0.1"),
            port=_env_int("TILLFLOW_KAFKA_PORT", 59092),
            external=_env_flag("TILLFLOW_KAFKA_EXTERNAL"),
        )
        redis = RedisSettings(
            host=_env("TILLFLOW_REDIS_HOST", "127.0.0.1"),
            port=_env_int("TILLFLOW_REDIS_PORT", 56379),
            external=_env_flag("TILLFLOW_REDIS_EXTERNAL"),
        )
        airflow = AirflowSettings(
            host=_env("TILLFLOW_AIRFLOW_HOST", "127.0.0.1"),
            port=_env_int("TILLFLOW_AIRFLOW_PORT", 8080),
            external=_env_flag("TILLFLOW_AIRFLOW_EXTERNAL"),
            admin_user=_env("TILLFLOW_AIRFLOW_USER", "admin"),
            admin_password=_env("TILLFLOW_AIRFLOW_PASSWORD", "tillflow"),
        )
        return cls(
            home=home,
            postgres=postgres,
            kafka=kafka,
            redis=redis,
            airflow=airflow,
            spark_master=_env("TILLFLOW_SPARK_MASTER", "local[2]"),
        )
