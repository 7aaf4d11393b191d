"""A SASL configuration in ``kafka_default`` (or ``TILLFLOW_KAFKA_CLIENT_CONFIG`` in local mode)
reaches every Kafka client of the platform.

confluent-kafka's ``Producer``, ``Consumer`` and ``AdminClient`` are replaced by recorders; every
construction path is driven as the platform drives it (Airflow task glue, services, Spark driver
and executor readers, the native format's options) and each configuration it built must carry the
whole connection. A client built outside the funnel (``kafka_profiles.client_config``) from a bare
bootstrap string is recorded without it and fails its path; one built in a module nobody drives
here fails ``test_no_client_is_constructed_outside_the_adapter``.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

from tillflow import config
from tillflow.config import PROJECT_ROOT, KafkaConnection, Settings

pytestmark = pytest.mark.unit

SASL = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanisms": "PLAIN",
    "sasl.username": "tillflow",
    "sasl.password": 's3cr"et',
    "ssl.ca.location": "/etc/tillflow/ca.pem",
    "client.id": "tillflow-platform",
}
BOOTSTRAP = "broker-1:9093,broker-2:9093"
#: ``kafka_default``'s extra: the connection, and the Airflow provider's consumer settings.
EXTRA = {
    "bootstrap.servers": BOOTSTRAP,
    **SASL,
    "group.id": "tillflow-airflow",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "session.timeout.ms": 6000,
}
CONSUMER_ONLY = ("group.id", "auto.offset.reset", "enable.auto.commit", "session.timeout.ms")

#: (client kind, configuration) of every client built since the test started.
BUILT: list[tuple[str, dict[str, Any]]] = []


class _Future:
    def result(self, timeout: float | None = None) -> None:
        return None


class _Client:
    """Enough of a confluent-kafka client for the construction paths: inert."""

    kind = "client"

    def __init__(self, conf: dict[str, Any], **kwargs: Any) -> None:
        BUILT.append((self.kind, dict(conf)))

    def list_topics(self, topic: str | None = None, timeout: float | None = None) -> Any:
        parts = {0: None, 1: None}
        return SimpleNamespace(
            topics=defaultdict(lambda: SimpleNamespace(partitions=parts, error=None))
        )

    def create_topics(self, new: list[Any], **kwargs: Any) -> dict[str, _Future]:
        return {t.topic: _Future() for t in new}

    def delete_topics(self, names: list[str], **kwargs: Any) -> dict[str, _Future]:
        return dict.fromkeys(names, _Future())

    def produce(
        self, *args: Any, on_delivery: Callable[..., None] | None = None, **kw: Any
    ) -> None:
        if on_delivery is not None:
            on_delivery(None, SimpleNamespace(partition=lambda: 0, offset=lambda: 0))

    def flush(self, timeout: float | None = None) -> int:
        return 0

    def poll(self, timeout: float | None = None) -> None:
        return None

    def consume(self, num: int = 1, timeout: float | None = None) -> list[Any]:
        return []

    def position(self, tps: list[Any]) -> list[Any]:
        return [SimpleNamespace(offset=10**9) for _ in tps]

    def get_watermark_offsets(self, tp: Any, **kwargs: Any) -> tuple[int, int]:
        return (0, 0)

    def committed(self, tps: list[Any], timeout: float | None = None) -> list[Any]:
        return tps

    def assign(self, *args: Any) -> None: ...
    def subscribe(self, *args: Any) -> None: ...
    def pause(self, *args: Any) -> None: ...
    def resume(self, *args: Any) -> None: ...
    def commit(self, *args: Any, **kwargs: Any) -> None: ...
    def close(self) -> None: ...


class _Producer(_Client):
    kind = "producer"


class _Consumer(_Client):
    kind = "consumer"


class _Admin(_Client):
    kind = "admin"


@pytest.fixture(autouse=True)
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    import confluent_kafka
    import confluent_kafka.admin
    from airflow.providers.apache.kafka.hooks import consume

    from spark import kafka_source

    monkeypatch.setattr(confluent_kafka, "Producer", _Producer)
    monkeypatch.setattr(confluent_kafka, "Consumer", _Consumer)
    monkeypatch.setattr(confluent_kafka.admin, "AdminClient", _Admin)
    monkeypatch.setattr(consume, "Consumer", _Consumer)  # the Airflow provider's own import
    monkeypatch.setattr(kafka_source, "_CONSUMERS", {})
    # Local mode: the same connection in the environment; Airflow: in kafka_default's extra.
    monkeypatch.setenv("TILLFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("TILLFLOW_KAFKA_CLIENT_CONFIG", json.dumps(EXTRA))
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_DEFAULT", json.dumps({"conn_type": "kafka", "extra": EXTRA})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_POSTGRES_OLTP",
        json.dumps({"conn_type": "postgres", "host": "db", "schema": "oltp", "login": "u"}),
    )
    BUILT.clear()
    yield
    BUILT.clear()


def airflow_connection() -> KafkaConnection:
    from tillflow_airflow.connections import kafka_connection

    return kafka_connection(config.CONN_KAFKA)


def settings() -> Settings:
    return Settings.from_env()


# --- the construction paths ------------------------------------------------------------------
def adapter_clients() -> None:
    from tillflow.adapters import kafka
    from tillflow.adapters.kafka_profiles import RANGE_READER

    conn = airflow_connection()
    kafka.producer(conn)
    kafka.consumer(conn, "g")
    kafka.reader(conn, RANGE_READER)
    kafka.admin(conn)
    kafka.ensure_topics(conn, ["t"])


def generators() -> None:
    from tillflow.jobs.generators import tasks
    from tillflow.jobs.generators.scans import KafkaSink

    tasks.create_topics(airflow_connection())  # tillflow_bootstrap's topics task
    KafkaSink(airflow_connection(), "pos.scans").close()  # the generator DAGs' sink
    KafkaSink(settings().kafka.connection, "pos.scans").close()  # `tillflow generate`


def smoke() -> None:
    from tillflow.jobs import smoke

    with contextlib.suppress(TimeoutError):  # nothing comes back from the recorders
        smoke.kafka_roundtrip(airflow_connection(), "tillflow.smoke", timeout=0.01)


def cdc_engine() -> None:
    from tillflow.adapters import migrations
    from tillflow.jobs.cdc import engine, publication
    from tillflow.jobs.cdc.settings import CdcSettings

    s = settings()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(migrations, "migrate", lambda *a, **k: [])
        mp.setattr(publication, "ensure_publication", lambda *a, **k: [])
        engine.prepare(s, CdcSettings.from_env(s))
    engine.forwarder_producer(s)


class _Nothing:
    """A cache or store that is never reached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    @classmethod
    def connect(cls, *args: Any, **kwargs: Any) -> _Nothing:
        return cls()

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: []


def suggestion_service() -> None:
    from tillflow.jobs.suggestions import consumer

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(consumer, "SuggestionCache", _Nothing)
        mp.setattr(consumer, "SuggestionStore", _Nothing)
        service = consumer.SuggestionService(consumer.ServiceConfig.from_settings(settings()))
        service.stop_event.set()
        service.updater._run()  # its CDC consumer


def suggestion_sensor() -> None:
    from tillflow.jobs.suggestions import sensor
    from tillflow_airflow.suggestions import on_qualifying_order

    suggestion = SimpleNamespace(order_id=1, product_id=2, discount_value=Decimal("5"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sensor, "SuggestionStore", _Nothing)
        mp.setattr(sensor, "suggestion_from_dict", lambda d: suggestion)
        mp.setattr(sensor, "publish", lambda *a, **k: 1)
        on_qualifying_order({"suggestion": {}}, params={})


def airflow_provider() -> None:
    """The suggestion DAG's sensor: the Kafka provider builds its consumer from
    ``kafka_suggestions``, exported in local mode from the platform's settings."""
    from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook

    from tillflow.runtime.airflow_env import connections

    exported = connections(settings())
    with pytest.MonkeyPatch.context() as mp:
        for conn_id in (config.CONN_KAFKA, config.CONN_KAFKA_SUGGESTIONS):
            mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(exported[conn_id]))
            KafkaConsumerHook(["t"], kafka_config_id=conn_id).get_consumer()


def plain_ingestion() -> None:
    from tillflow.jobs.ingest import plain

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plain, "committed_offsets", lambda *a: {})
        with contextlib.suppress(Exception):  # nothing to land: only the reader matters here
            plain.run(settings().kafka.connection, ["t"], "dsn", "job", idle_seconds=0.0)


def runtime_and_demo() -> None:
    from tillflow.entrypoints.demo import topic_counts
    from tillflow.runtime.services import Kafka

    assert Kafka(settings()).healthy()
    topic_counts(settings().kafka.connection)


def benches() -> None:
    from tillflow_bench import ingest as bench

    bench.produce_records(settings().kafka.connection, "test.t", [(b"k", b"v")])
    bench.delete_topics(settings().kafka.connection, ["test.t"])


class _ReadStream:
    """``spark.readStream`` as ``spark.ingest.source`` uses it: records the options."""

    def __init__(self) -> None:
        self.recorded: dict[str, str] = {}

    def format(self, name: str) -> _ReadStream:
        self.recorded["<format>"] = name
        return self

    def option(self, key: str, value: str) -> _ReadStream:
        self.recorded[key] = value
        return self

    def options(self, **kv: str) -> _ReadStream:
        self.recorded.update(kv)
        return self

    def load(self) -> dict[str, str]:
        return self.recorded


def ingest_dag_env() -> dict[str, str]:
    """The ingestion DAG's spark-submit environment (templates, unrendered)."""
    spec = importlib.util.spec_from_file_location(
        "tillflow_ingest_dag", PROJECT_ROOT / "dags" / "tillflow_ingest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.tillflow_ingest().get_task("spark_ingest").env_vars)


def source_options(engine: str) -> dict[str, str]:
    """The options the ingestion job hands its source, its Kafka settings passed as the
    ingestion DAG passes them (an env var rendered from ``kafka_default``)."""
    import argparse

    from spark import ingest
    from tillflow.jobs.ingest import sink
    from tillflow.jobs.ingest.jobargs import add_arguments

    template = ingest_dag_env()["TILLFLOW_KAFKA_CLIENT_CONFIG"]
    rendered = (
        jinja2.Environment()
        .from_string(template)
        .render(conn={"kafka_default": SimpleNamespace(extra_dejson=EXTRA)})
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--engine", engine, "--mode", "available-now"])
    stream = _ReadStream()
    fake_spark = SimpleNamespace(
        readStream=stream, dataSource=SimpleNamespace(register=lambda cls: None)
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TILLFLOW_KAFKA_CLIENT_CONFIG", rendered)
        mp.setattr(sink, "committed_offsets", lambda *a: {})
        cfg = ingest.config_from_args(args, Settings.from_env())
        records, _ = ingest.source(fake_spark, cfg)  # type: ignore[arg-type]
    return dict(records)  # type: ignore[call-overload]


def spark_source_readers() -> None:
    """The driver's readers (watcher, tail reader) and, from the pickled reader as Spark ships
    it, an executor's bulk reader."""
    from pyspark import cloudpickle

    from spark.kafka_source import KafkaRange, KafkaStreamReader, KafkaTailReader

    options = {k.lower(): v for k, v in source_options("fused").items()}
    options.update(readtimeoutseconds="0")
    reader = KafkaStreamReader(options)
    reader._consumer()
    tail = KafkaTailReader({**options, "reader": "tail"}, landing=lambda b: iter(()))
    tail._consumer()
    shipped = cloudpickle.loads(cloudpickle.dumps(reader))
    list(shipped.read(KafkaRange("pos.scans", 0, 0, 1)))


PATHS: dict[str, Callable[[], None]] = {
    "producer, consumer, reader, admin, topics (adapters)": adapter_clients,
    "generators (bootstrap topics, DAG and CLI sinks)": generators,
    "smoke check": smoke,
    "CDC engine (topics, forwarder producer)": cdc_engine,
    "suggestion service (producer, consumers)": suggestion_service,
    "suggestion sensor's publisher (Airflow task)": suggestion_sensor,
    "Airflow Kafka provider (sensor's consumer)": airflow_provider,
    "plain ingestion reader": plain_ingestion,
    "stack health check and demo counts": runtime_and_demo,
    "benches": benches,
    "Spark source readers (driver and executor)": spark_source_readers,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_the_connection_reaches_every_client_of_a_path(path: str) -> None:
    # Given SASL in kafka_default and in the local settings; When the path builds its clients
    PATHS[path]()
    # Then it built some, and each carries the whole connection
    assert BUILT, f"{path}: no Kafka client built"
    for kind, conf in BUILT:
        carried = {k: conf.get(k) for k in SASL}
        assert conf.get("bootstrap.servers") == BOOTSTRAP, (path, kind, conf)
        assert carried == SASL, f"{path}: a {kind} without the connection: {conf}"


def test_the_native_format_gets_the_connection_in_java_client_names() -> None:
    options = source_options("native")
    assert options["<format>"] == "kafka"
    assert options["kafka.bootstrap.servers"] == BOOTSTRAP
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "PLAIN"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required"
        ' username="tillflow" password="s3cr\\"et";'
    )
    assert options["kafka.ssl.truststore.location"] == "/etc/tillflow/ca.pem"
    assert options["kafka.client.id"] == "tillflow-platform"


def test_the_python_source_gets_the_connection_in_librdkafka_names() -> None:
    options = source_options("fused")
    assert {k: options.get(f"kafka.{k}") for k in SASL} == SASL
    land = json.loads(options["land"])  # the landing's copy of the job's settings
    assert KafkaConnection.from_config(land["kafka"]) == airflow_connection()


def test_consumer_settings_of_the_extra_stay_the_airflow_providers() -> None:
    conn = airflow_connection()
    assert conn == settings().kafka.connection
    assert conn.client_config() == {"bootstrap.servers": BOOTSTRAP, **SASL}
    assert not set(CONSUMER_ONLY) & set(conn.client_config())
    assert "s3cr" not in repr(conn)


def test_a_client_cannot_be_built_from_a_bare_bootstrap_or_override_the_connection() -> None:
    from tillflow.adapters import kafka

    with pytest.raises(TypeError, match="KafkaConnection"):
        kafka.producer_config(BOOTSTRAP)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connection keys"):
        kafka.producer_config(airflow_connection(), **{"security.protocol": "PLAINTEXT"})


#: The one module that constructs confluent-kafka clients (the Airflow provider builds its own
#: from the connection, driven above).
FUNNEL = PROJECT_ROOT / "include" / "tillflow" / "adapters" / "kafka.py"


def test_no_client_is_constructed_outside_the_adapter() -> None:
    offenders = []
    for folder in ("include", "spark", "dags", "plugins"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            if path == FUNNEL:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name in {"Producer", "Consumer", "AdminClient"}:
                        offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []
