"""Settings for running against a cluster: topic layout, Spark master and driver conf, the code
shipped to executors, the native format's translation of the Kafka connection."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from spark.kafka_options import native_options
from tillflow.config import LOOPBACK, KafkaConnection, Settings, SparkSettings, TopicLayout

pytestmark = pytest.mark.unit


def test_topic_layout_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TILLFLOW_KAFKA_PARTITIONS", raising=False)
    monkeypatch.delenv("TILLFLOW_KAFKA_REPLICATION_FACTOR", raising=False)
    assert Settings.from_env().kafka.topic_layout == TopicLayout(4, 1)
    monkeypatch.setenv("TILLFLOW_KAFKA_PARTITIONS", "12")
    monkeypatch.setenv("TILLFLOW_KAFKA_REPLICATION_FACTOR", "3")
    assert TopicLayout.from_env() == Settings.from_env().kafka.topic_layout == TopicLayout(12, 3)
    with pytest.raises(ValueError, match=">= 1"):
        TopicLayout(0, 1)


def test_created_topics_get_the_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    import confluent_kafka.admin

    from tillflow.jobs.generators.bootstrap import ensure_platform_topics

    created: list[Any] = []

    class Admin:
        def __init__(self, conf: dict[str, Any]) -> None: ...

        def list_topics(self, timeout: float) -> Any:
            return type("Meta", (), {"topics": {}})()

        def create_topics(self, new: list[Any]) -> dict[str, Any]:
            created.extend(new)
            return {}

    monkeypatch.setattr(confluent_kafka.admin, "AdminClient", Admin)
    monkeypatch.setenv("TILLFLOW_KAFKA_PARTITIONS", "8")
    monkeypatch.setenv("TILLFLOW_KAFKA_REPLICATION_FACTOR", "3")
    ensure_platform_topics(KafkaConnection("b:9092"))
    layout = {t.topic: (t.num_partitions, t.replication_factor) for t in created}
    assert layout["pos.scans"] == (8, 3)
    # The change and order topics keep one partition (one total order each), replicated too.
    assert layout["oltp.public.order_events"] == layout["oltp.public.stores"] == (1, 3)


@pytest.mark.parametrize(
    ("host", "port", "master"),
    [
        (None, None, "local[2]"),
        ("local[4]", 7077, "local[4]"),
        ("spark://spark-master", 7077, "spark://spark-master:7077"),
        ("spark://spark-master:7078", 7077, "spark://spark-master:7078"),
        ("spark-master", 7077, "spark://spark-master:7077"),
        ("yarn", None, "yarn"),
        ("k8s://https://api:6443", None, "k8s://https://api:6443"),
    ],
)
def test_the_master_from_spark_default(host: str | None, port: int | None, master: str) -> None:
    assert SparkSettings.from_connection(host, port, {}).master == master


def test_driver_conf_from_the_extra_and_loopback_by_default() -> None:
    assert SparkSettings().driver_conf() == {
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
    }
    s = SparkSettings.from_connection(
        "spark://m",
        7077,
        {
            "deploy-mode": "client",
            "spark-binary": "spark-submit",
            "spark.driver.host": "10.0.0.5",
            "spark.executor.memory": "2g",
        },
    )
    # The provider's own keys stay its; a driver host without a bind address binds to the host.
    assert s.driver_conf() == {"spark.driver.host": "10.0.0.5", "spark.executor.memory": "2g"}
    assert s.deploy_mode == "client" and not s.is_local


def test_spark_default_and_the_environment_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from tillflow_airflow.connections import spark_settings

    extra = {"deploy-mode": "client", "spark.driver.host": "10.0.0.5"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        json.dumps({"conn_type": "spark", "host": "spark://m", "port": 7077, "extra": extra}),
    )
    monkeypatch.setenv("TILLFLOW_SPARK_MASTER", "spark://m:7077")
    monkeypatch.setenv("TILLFLOW_SPARK_CONF", json.dumps(extra))
    assert spark_settings("spark_default") == Settings.from_env().spark


def test_a_malformed_client_config_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILLFLOW_KAFKA_CLIENT_CONFIG", "security.protocol=SASL_SSL")
    with pytest.raises(ValueError, match="TILLFLOW_KAFKA_CLIENT_CONFIG must be a JSON object"):
        Settings.from_env()


def test_a_connection_holds_connection_keys_only() -> None:
    with pytest.raises(ValueError, match="not a Kafka connection key"):
        KafkaConnection("b:9092", (("group.id", "g"),))
    with pytest.raises(ValueError, match="bootstrap"):
        KafkaConnection.from_config({"security.protocol": "SSL"})
    conn = KafkaConnection.from_config(
        {"bootstrap.servers": "b:9092", "enable.ssl.certificate.verification": False}
    )
    assert conn.client_config()["enable.ssl.certificate.verification"] == "false"
    assert KafkaConnection.from_json(conn.to_json()) == conn


def test_the_native_format_refuses_what_the_java_client_cannot_take() -> None:
    conn = KafkaConnection.from_config(
        {
            "bootstrap.servers": "b:9092",
            "sasl.mechanisms": "OAUTHBEARER",
            "sasl.oauthbearer.config": "x",
        }
    )
    with pytest.raises(ValueError, match="no Java Kafka client equivalent"):
        native_options(conn)
    assert native_options(KafkaConnection("b:9092")) == {"kafka.bootstrap.servers": "b:9092"}


def test_the_code_archive_holds_both_packages_sources_and_data(tmp_path: Path) -> None:
    from tillflow.adapters.spark import code_archive

    names = zipfile.ZipFile(code_archive(tmp_path / "code.zip")).namelist()
    assert {"tillflow/__init__.py", "tillflow/config.py", "spark/__init__.py"} <= set(names)
    assert "spark/kafka_source.py" in names and "tillflow/jobs/ingest/sink.py" in names
    assert any(n.startswith("tillflow/sql/warehouse/") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
