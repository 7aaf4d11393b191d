"""All of tillflow's settings in one place: ports, hosts, roles, connection ids, topics, schemas.

Every value has a local default and an environment variable that overrides it (listed in the
README). A service marked external (``TILLFLOW_<SERVICE>_EXTERNAL=1``) is used as configured and
never started by the local stack.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

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
#: Airflow's own metadata database, for `airflow db clean` in the housekeeping DAG: a task
#: process has its metadata connection blocked by Airflow 3's task supervisor.
CONN_AIRFLOW_METADATA: Final = "airflow_metadata"
#: The lakehouse's Iceberg SQL catalog (a PostgreSQL database); its extra holds the warehouse
#: location and the S3 FileIO properties (``LakehouseSettings.to_extra``).
CONN_LAKEHOUSE: Final = "lakehouse_catalog"

# --- Databases and warehouse schemas --------------------------------------------------------
DB_OLTP: Final = "oltp"
DB_WAREHOUSE: Final = "warehouse"
DB_AIRFLOW: Final = "airflow"
#: Superset's own metadata (users, dashboards, charts).
DB_SUPERSET: Final = "superset"
#: The lakehouse's Iceberg SQL catalog (``TILLFLOW_LAKEHOUSE_DB`` overrides it).
DB_LAKEHOUSE: Final = "lakehouse"
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


def _env_positive(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _env_flag(name: str) -> bool:
    return _env(name, "0").lower() in {"1", "true", "yes", "on"}


def dbt_threads() -> int:
    """dbt's threads, for `tillflow elt` (profiles.yml reads the same variable) and the daily
    DAG's Cosmos profile alike, so a build inside Airflow runs as wide as one outside it."""
    threads = _env_int("TILLFLOW_DBT_THREADS", 2)
    if threads < 1:
        raise ValueError(f"TILLFLOW_DBT_THREADS must be at least 1, got {threads}")
    return threads


def _env_json(name: str) -> dict[str, Any]:
    raw = _env(name, "{}")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _option_value(value: Any) -> str:
    """A client option as librdkafka and Spark read it (JSON true -> ``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: The keys of a Kafka client configuration that say how to reach and authenticate against the
#: cluster (the same for every client), as opposed to how one client behaves (its profile,
#: ``tillflow.adapters.kafka_profiles``). Anything else in a connection's extra (``group.id``,
#: ``auto.offset.reset``, timeouts: the Airflow Kafka provider's consumer settings) is not ours.
KAFKA_CONNECTION_KEYS: Final = frozenset(
    {
        "bootstrap.servers",
        "client.id",
        "client.rack",
        "security.protocol",
        "broker.address.family",
        "enable.ssl.certificate.verification",
    }
)
KAFKA_CONNECTION_PREFIXES: Final = ("sasl.", "ssl.")
#: Values never printed (repr, logs).
_SECRET_MARKERS: Final = ("password", "secret", "token", "jaas")


def is_kafka_connection_key(key: str) -> bool:
    return key in KAFKA_CONNECTION_KEYS or key.startswith(KAFKA_CONNECTION_PREFIXES)


@dataclass(frozen=True)
class KafkaConnection:
    """How every Kafka client of the platform reaches the cluster: the bootstrap servers and the
    connection keys (security protocol, SASL, SSL, client.id; ``KAFKA_CONNECTION_KEYS``) in
    librdkafka's names. Resolved once (``TILLFLOW_KAFKA_*`` here, the ``kafka_default``
    connection in Airflow tasks) and handed to every client (``kafka_profiles.client_config``).

    Hashable and picklable: Spark's executors get it inside the source's options.
    """

    bootstrap: str
    options: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.bootstrap:
            raise ValueError("a Kafka connection needs bootstrap.servers")
        for key, _ in self.options:
            if key == "bootstrap.servers" or not is_kafka_connection_key(key):
                raise ValueError(f"{key!r} is not a Kafka connection key")

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], default_bootstrap: str | None = None
    ) -> KafkaConnection:
        """The connection keys of a librdkafka configuration (e.g. an Airflow Kafka connection's
        extra); the other keys are dropped."""
        bootstrap = str(config.get("bootstrap.servers") or default_bootstrap or "")
        options = tuple(
            sorted(
                (str(k), _option_value(v))
                for k, v in config.items()
                if k != "bootstrap.servers" and is_kafka_connection_key(str(k))
            )
        )
        return cls(bootstrap, options)

    def client_config(self) -> dict[str, str]:
        """``bootstrap.servers`` and the connection keys, in librdkafka's names."""
        return {"bootstrap.servers": self.bootstrap, **dict(self.options)}

    def to_json(self) -> str:
        return json.dumps(self.client_config(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> KafkaConnection:
        return cls.from_config(json.loads(text))

    def __repr__(self) -> str:
        shown = {k: "***" if any(m in k for m in _SECRET_MARKERS) else v for k, v in self.options}
        return f"KafkaConnection(bootstrap={self.bootstrap!r}, options={shown!r})"


@dataclass(frozen=True)
class TopicLayout:
    """Partitions of a topic created without a count, and every created topic's replication
    factor (``TILLFLOW_KAFKA_PARTITIONS``, ``TILLFLOW_KAFKA_REPLICATION_FACTOR``)."""

    partitions: int = 4
    replication_factor: int = 1

    def __post_init__(self) -> None:
        if self.partitions < 1 or self.replication_factor < 1:
            raise ValueError(f"partitions and replication factor must be >= 1: {self}")

    @classmethod
    def from_env(cls) -> TopicLayout:
        return cls(
            partitions=_env_int("TILLFLOW_KAFKA_PARTITIONS", 4),
            replication_factor=_env_int("TILLFLOW_KAFKA_REPLICATION_FACTOR", 1),
        )


#: Where a Spark driver binds and what it advertises when nothing says otherwise: loopback (the
#: local machine has no other route worth binding to).
LOOPBACK: Final = "127.0.0.1"


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark jobs run: the master and the driver's Spark conf (``spark.*`` keys, among them
    ``spark.driver.host`` and ``spark.driver.bindAddress``, loopback unless given). Resolved from
    ``TILLFLOW_SPARK_MASTER``/``TILLFLOW_SPARK_CONF`` here, from ``spark_default`` (host/port ->
    master, ``spark.*`` extra keys -> conf, ``deploy-mode``) in Airflow tasks."""

    master: str = "local[2]"
    conf: tuple[tuple[str, str], ...] = ()
    deploy_mode: str = "client"

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")

    def driver_conf(self) -> dict[str, str]:
        """The conf a session starts with: loopback driver addresses unless the conf says."""
        conf = dict(self.conf)
        if "spark.driver.host" not in conf:
            conf["spark.driver.host"] = LOOPBACK
            conf.setdefault("spark.driver.bindAddress", LOOPBACK)
        # A host given without a bind address: Spark binds to the host.
        return conf

    @classmethod
    def from_connection(
        cls, host: str | None, port: int | None, extra: Mapping[str, Any]
    ) -> SparkSettings:
        """``spark_default``'s fields: host (``local[N]``, ``spark://h``, ``yarn``, ``k8s://..``
        or a bare host: ``spark://`` is assumed) and port -> the master; the extra's ``spark.*``
        keys -> conf; ``deploy-mode`` as the Spark provider reads it. Other extra keys
        (``spark-binary``, ``queue``, ...) are the provider's."""
        master = str(host or "local[2]")
        if not (master.startswith("local") or "://" in master or master == "yarn"):
            master = f"spark://{master}"
        if port and "://" in master and ":" not in master.split("://", 1)[1]:
            master = f"{master}:{port}"
        conf = tuple(
            sorted(
                (str(k), _option_value(v)) for k, v in extra.items() if str(k).startswith("spark.")
            )
        )
        return cls(master, conf, str(extra.get("deploy-mode") or "client"))

    @classmethod
    def from_env(cls) -> SparkSettings:
        """``TILLFLOW_SPARK_MASTER`` (default ``local[2]``) and ``TILLFLOW_SPARK_CONF``, a JSON
        object in ``spark_default``'s extra form (``spark.*`` keys; ``deploy-mode``)."""
        extra = _env_json("TILLFLOW_SPARK_CONF")
        return cls.from_connection(_env("TILLFLOW_SPARK_MASTER", "local[2]"), None, extra)


@dataclass(frozen=True)
class Role:
    """A PostgreSQL login role of the platform."""

    name: str
    password: str


@dataclass(frozen=True)
class PostgresEndpoint:
    """One PostgreSQL server: where it listens, whether the stack runs it."""

    host: str
    port: int
    external: bool


@dataclass(frozen=True)
class PostgresSettings:
    """Two servers, as in production: the warehouse's (``host``/``port``: the warehouse,
    Airflow's metadata, Superset's, the lakehouse catalog) and OLTP's (``oltp``: the ``oltp``
    database alone). The warehouse's long transactions would otherwise pin the CDC slot, which
    cannot move past the oldest transaction open anywhere in its server (README, WAL section)."""

    host: str
    port: int
    admin_user: str
    admin_password: str
    external: bool
    airflow: Role
    api: Role
    ingest: Role
    dbt: Role
    #: SELECT only, for dashboards (Superset): the warehouse's schemas (marts, serving, ops, raw,
    #: and the others dbt creates), OLTP's orders and suggestions, Airflow's DAG runs.
    reader: Role
    oltp: PostgresEndpoint

    @property
    def warehouse(self) -> PostgresEndpoint:
        return PostgresEndpoint(self.host, self.port, self.external)

    @property
    def shared(self) -> bool:
        """True when OLTP is configured on the warehouse's own server (one server for both)."""
        return (self.oltp.host, self.oltp.port) == (self.host, self.port)

    def server(self, database: str) -> PostgresEndpoint:
        """The server holding ``database``: OLTP's for ``oltp``, the warehouse's for the rest."""
        return self.oltp if database == DB_OLTP else self.warehouse

    def dsn(self, database: str, role: Role | None = None) -> str:
        """A libpq key/value DSN (TCP, never a socket path: Cosmos dataset URIs need a host)."""
        return self.dsn_at(self.server(database), database, role)

    def dsn_at(self, at: PostgresEndpoint, database: str, role: Role | None = None) -> str:
        """A DSN of ``database`` on the server ``at`` (``postgres``: the server itself)."""
        user = role.name if role else self.admin_user
        password = role.password if role else self.admin_password
        parts = [f"host={at.host}", f"port={at.port}", f"dbname={database}", f"user={user}"]
        if password:
            parts.append(f"password={password}")
        return " ".join(parts)

    def url(self, database: str, role: Role, driver: str = "postgresql") -> str:
        # Percent-encoded: a password with @ : / % # would otherwise break the URL.
        user, password = quote(role.name, safe=""), quote(role.password, safe="")
        at = self.server(database)
        return f"{driver}://{user}:{password}@{at.host}:{at.port}/{database}"


@dataclass(frozen=True)
class KafkaSettings:
    """The local broker (host, port: what ``tillflow up`` starts and checks) and how clients reach
    the cluster (``connection``: ``TILLFLOW_KAFKA_CLIENT_CONFIG``'s bootstrap.servers, else
    host:port, and its connection keys)."""

    host: str
    port: int
    external: bool
    connection: KafkaConnection
    topic_layout: TopicLayout = field(default_factory=TopicLayout)

    @property
    def bootstrap(self) -> str:
        return self.connection.bootstrap


@dataclass(frozen=True)
class RedisSettings:
    host: str
    port: int
    external: bool


@dataclass(frozen=True)
class SupersetSettings:
    """The dashboards' web server (Apache Superset, in its own virtual environment)."""

    host: str
    port: int
    external: bool
    admin_user: str
    admin_password: str
    #: Signs Superset's sessions and encrypts the stored connection passwords.
    secret_key: str
    #: Superset's own metadata database (users, dashboards, charts) on the stack's PostgreSQL.
    metadata_role: Role
    #: The virtual environment that holds Superset (`make install` creates it).
    venv: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls) -> SupersetSettings:
        return cls(
            host=_env("TILLFLOW_SUPERSET_HOST", "127.0.0.1"),
            port=_env_int("TILLFLOW_SUPERSET_PORT", 8088),
            external=_env_flag("TILLFLOW_SUPERSET_EXTERNAL"),
            admin_user=_env("TILLFLOW_SUPERSET_USER", "admin"),
            admin_password=_env("TILLFLOW_SUPERSET_PASSWORD", "tillflow"),
            secret_key=_env("TILLFLOW_SUPERSET_SECRET_KEY", "tillflow-local-superset-secret-key"),
            metadata_role=Role("superset", _env("TILLFLOW_PG_SUPERSET_PASSWORD", "superset")),
            venv=Path(_env("TILLFLOW_SUPERSET_VENV", str(PROJECT_ROOT / ".venv-superset"))),
        )


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


def wal_keep_size(value: str) -> str:
    """A ``max_slot_wal_keep_size`` value: a whole number of MB, GB or TB, or -1 (unbounded)."""
    text = value.strip()
    if text == "-1" or re.fullmatch(r"[1-9][0-9]*(MB|GB|TB)", text):
        return text
    raise ValueError(
        f"TILLFLOW_PG_MAX_SLOT_WAL_KEEP must be a size such as 16GB or 512MB (or -1 for no "
        f"bound), got {value!r}"
    )


#: The S3 FileIO properties a lakehouse connection's extra may carry (pyiceberg's names), each
#: with the ``TILLFLOW_LAKEHOUSE_*`` variable that sets it outside Airflow.
LAKEHOUSE_S3_PROPERTIES: Final = {
    "s3.endpoint": "TILLFLOW_LAKEHOUSE_S3_ENDPOINT",
    "s3.access-key-id": "TILLFLOW_LAKEHOUSE_S3_ACCESS_KEY_ID",
    "s3.secret-access-key": "TILLFLOW_LAKEHOUSE_S3_SECRET_ACCESS_KEY",
    "s3.region": "TILLFLOW_LAKEHOUSE_S3_REGION",
}


@dataclass(frozen=True)
class LakehouseSettings:
    """Where the Iceberg tables live: the warehouse location (a folder, ``file://`` or ``s3://``
    URI) and the FileIO properties for S3-compatible storage (empty ones are left out). The SQL
    catalog is a database of the stack's PostgreSQL (``catalog_database``)."""

    warehouse: str
    catalog_database: str = DB_LAKEHOUSE
    #: The catalog's name inside its database (several catalogs may share one).
    catalog_name: str = "tillflow"
    s3: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.warehouse:
            raise ValueError("the lakehouse needs a warehouse location")
        unknown = [k for k, _ in self.s3 if k not in LAKEHOUSE_S3_PROPERTIES]
        if unknown:
            raise ValueError(f"not lakehouse S3 properties: {unknown}")

    @property
    def warehouse_uri(self) -> str:
        """The location as a URI: a plain folder becomes ``file:///abs/path``."""
        if "://" in self.warehouse:
            return self.warehouse
        return Path(self.warehouse).resolve().as_uri()

    def file_io_properties(self) -> dict[str, str]:
        return {k: v for k, v in self.s3 if v}

    def to_extra(self) -> dict[str, str]:
        """A lakehouse connection's extra: the warehouse and the S3 properties that are set."""
        return {"warehouse": self.warehouse, **self.file_io_properties()}

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], catalog_database: str) -> LakehouseSettings:
        s3 = tuple(sorted((k, str(v)) for k, v in extra.items() if k.startswith("s3.") and v))
        return cls(str(extra.get("warehouse") or ""), catalog_database, s3=s3)

    @classmethod
    def from_env(cls, home: Path) -> LakehouseSettings:
        """``TILLFLOW_LAKEHOUSE_DB`` (default ``lakehouse``), ``TILLFLOW_LAKEHOUSE_WAREHOUSE``
        (default ``<TILLFLOW_HOME>/lakehouse``) and the ``TILLFLOW_LAKEHOUSE_S3_*`` properties."""
        s3 = {key: _env(var, "") for key, var in LAKEHOUSE_S3_PROPERTIES.items()}
        return cls(
            warehouse=_env("TILLFLOW_LAKEHOUSE_WAREHOUSE", str(home / "lakehouse")),
            catalog_database=_env("TILLFLOW_LAKEHOUSE_DB", DB_LAKEHOUSE),
            s3=tuple(sorted((k, v) for k, v in s3.items() if v)),
        )

    def __repr__(self) -> str:
        shown = {k: "***" if any(m in k for m in _SECRET_MARKERS) else v for k, v in self.s3}
        return (
            f"LakehouseSettings(warehouse={self.warehouse!r}, "
            f"catalog_database={self.catalog_database!r}, s3={shown!r})"
        )


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one tillflow installation."""

    home: Path
    postgres: PostgresSettings
    kafka: KafkaSettings
    redis: RedisSettings
    airflow: AirflowSettings
    spark: SparkSettings
    #: Where the dbt docs site is written (``TILLFLOW_DBT_DOCS_DIR``; under ``astro dev start`` a
    #: volume the task's and the api-server's containers share).
    dbt_docs_dir: Path
    #: `tillflow status` warns when a replication slot holds more WAL (``TILLFLOW_WAL_WARN_GB``).
    wal_warn_gb: float
    #: The most WAL a replication slot may hold (PostgreSQL's ``max_slot_wal_keep_size``, from
    #: ``TILLFLOW_PG_MAX_SLOT_WAL_KEEP``, default 16GB; -1 unbounded): past it the server
    #: invalidates the slot instead of filling the disk, and CDC snapshots again.
    max_slot_wal_keep: str = "16GB"
    #: Seconds between the supervisor's looks at the stack (``TILLFLOW_SUPERVISE_INTERVAL``).
    supervise_interval: float = 2.0
    #: The local broker's memory budget in MB (``TILLFLOW_KAFKA_MEMORY_BUDGET_MB``): the
    #: supervisor recycles it before its RSS passes this (``runtime/broker_keeper.py``).
    kafka_memory_budget_mb: int = 2048
    #: Records the continuous ingestion may have unread before the keeper holds producers back
    #: (``TILLFLOW_INGEST_LAG_BOUND``; 0: no bound): about what a killed broker can take.
    ingest_lag_bound: int = 2_000_000
    topics: Topics = field(default_factory=Topics)
    superset: SupersetSettings = field(default_factory=SupersetSettings.from_env)
    #: The Iceberg lakehouse (``TILLFLOW_LAKEHOUSE_*``).
    lakehouse: LakehouseSettings = field(
        default_factory=lambda: LakehouseSettings(str(PROJECT_ROOT / ".tillflow" / "lakehouse"))
    )

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(_env("TILLFLOW_HOME", str(PROJECT_ROOT / ".tillflow"))).resolve()
        pg_host = _env("TILLFLOW_PG_HOST", "127.0.0.1")
        postgres = PostgresSettings(
            host=pg_host,
            port=_env_int("TILLFLOW_PG_PORT", 55432),
            admin_user=_env("TILLFLOW_PG_ADMIN_USER", "postgres"),
            admin_password=_env("TILLFLOW_PG_ADMIN_PASSWORD", "postgres"),
            external=_env_flag("TILLFLOW_PG_EXTERNAL"),
            airflow=Role("airflow", _env("TILLFLOW_PG_AIRFLOW_PASSWORD", "airflow")),
            api=Role("tillflow_api", _env("TILLFLOW_PG_API_PASSWORD", "tillflow_api")),
            ingest=Role("tillflow_ingest", _env("TILLFLOW_PG_INGEST_PASSWORD", "tillflow_ingest")),
            dbt=Role("tillflow_dbt", _env("TILLFLOW_PG_DBT_PASSWORD", "tillflow_dbt")),
            reader=Role("tillflow_reader", _env("TILLFLOW_PG_READER_PASSWORD", "tillflow_reader")),
            oltp=PostgresEndpoint(
                host=_env("TILLFLOW_OLTP_PG_HOST", pg_host),
                port=_env_int("TILLFLOW_OLTP_PG_PORT", 55433),
                external=_env_flag("TILLFLOW_OLTP_PG_EXTERNAL"),
            ),
        )
        kafka_host = _env("TILLFLOW_KAFKA_HOST", "127.0.0.1")
        kafka_port = _env_int("TILLFLOW_KAFKA_PORT", 59092)
        kafka = KafkaSettings(
            host=kafka_host,
            port=kafka_port,
            external=_env_flag("TILLFLOW_KAFKA_EXTERNAL"),
            connection=KafkaConnection.from_config(
                _env_json("TILLFLOW_KAFKA_CLIENT_CONFIG"), f"{kafka_host}:{kafka_port}"
            ),
            topic_layout=TopicLayout.from_env(),
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
            spark=SparkSettings.from_env(),
            dbt_docs_dir=Path(_env("TILLFLOW_DBT_DOCS_DIR", str(home / "dbt_docs"))),
            wal_warn_gb=float(_env("TILLFLOW_WAL_WARN_GB", "4")),
            max_slot_wal_keep=wal_keep_size(_env("TILLFLOW_PG_MAX_SLOT_WAL_KEEP", "16GB")),
            supervise_interval=_env_positive("TILLFLOW_SUPERVISE_INTERVAL", 2.0),
            kafka_memory_budget_mb=int(_env_positive("TILLFLOW_KAFKA_MEMORY_BUDGET_MB", 2048)),
            ingest_lag_bound=max(0, _env_int("TILLFLOW_INGEST_LAG_BOUND", 2_000_000)),
            lakehouse=LakehouseSettings.from_env(home),
        )
