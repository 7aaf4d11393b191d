"""CDC configuration and preflight (pure logic, no JVM, no services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tillflow.config import Settings
from tillflow.jobs.cdc.engine import debezium_properties, java_home_problem, kafka_topic
from tillflow.jobs.cdc.settings import CAPTURED_TABLES, CdcSettings
from tillflow.runtime.managed.cdc import Cdc
from tillflow.runtime.process import StackError

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TILLFLOW_HOME", str(tmp_path))
    for name in ("TILLFLOW_CDC_STATE_DIR", "TILLFLOW_CDC_TOPIC_PREFIX", "TILLFLOW_CDC_SLOT"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


def test_properties_give_schemaless_json_string_decimals_and_durable_offsets(
    settings: Settings,
) -> None:
    # Given the default CDC settings / When the Debezium properties are built
    cdc = CdcSettings.from_env(settings)
    props = debezium_properties(settings, cdc)
    # Then numerics are strings, JSON has no schemas, offsets live in the state folder
    assert props["decimal.handling.mode"] == "string"
    assert props["key.converter.schemas.enable"] == "false"
    assert props["value.converter.schemas.enable"] == "false"
    assert props["plugin.name"] == "pgoutput"
    assert props["tombstones.on.delete"] == "true"
    assert props["offset.storage"].endswith("FileOffsetBackingStore")
    assert Path(props["offset.storage.file.filename"]) == settings.home / "cdc" / "offsets.dat"
    assert props["table.include.list"].split(",") == [f"public.{t}" for t in CAPTURED_TABLES]
    assert props["database.user"] == "tillflow_api"
    # and every heartbeat writes the (published, not captured) heartbeat row in OLTP
    assert "public.cdc_heartbeat" in props["heartbeat.action.query"]
    assert "cdc_heartbeat" not in props["table.include.list"]


def test_topics_follow_the_documented_naming_scheme(settings: Settings) -> None:
    # Given the default prefix / Then topics are oltp.public.<table>, as config.TOPICS says
    cdc = CdcSettings.from_env(settings)
    assert cdc.topic("item_master") == settings.topics.cdc("item_master")
    assert cdc.topic("order_events") == settings.topics.orders


@pytest.mark.parametrize(
    ("destination", "topic"),
    [
        ("oltp.public.item_master", "oltp.public.item_master"),
        ("__debezium-heartbeat.oltp", None),
    ],
)
def test_heartbeats_are_not_published(destination: str, topic: str | None) -> None:
    assert kafka_topic(destination) == topic


def test_preflight_names_java_home_when_java_is_missing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given no java on PATH and no JAVA_HOME
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    # When the CDC service's preflight runs / Then it fails in one line naming JAVA_HOME
    with pytest.raises(StackError) as caught:
        Cdc(settings).preflight()
    message = str(caught.value)
    assert "JAVA_HOME" in message
    assert "\n" not in message


def test_a_java_home_without_java_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    problem = java_home_problem()
    assert problem is not None
    assert f"JAVA_HOME={tmp_path}" in problem


def test_status_shows_a_lost_slot_recovery_and_nothing_otherwise(settings: Settings) -> None:
    from tillflow.runtime.managed.cdc import Cdc

    service = Cdc(settings)
    status = service.cdc.status_file
    status.parent.mkdir(parents=True, exist_ok=True)
    assert service.address == "slot tillflow_cdc -> oltp.public.*"  # no status file yet
    status.write_text(json.dumps({"state": "streaming", "slot_recoveries": 0}))
    assert "lost" not in service.address
    status.write_text(json.dumps({"state": "streaming", "slot_recoveries": 2}))
    assert service.address.endswith("; slot lost and snapshotted again 2x since CDC started")
    status.write_text("{not json")
    assert "lost" not in service.address
