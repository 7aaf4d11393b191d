"""Settings come from TILLFLOW_* variables with documented local defaults."""

from __future__ import annotations

import pytest

from tillflow.config import Settings

pytestmark = pytest.mark.unit


def test_defaults_are_the_documented_local_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "TILLFLOW_PG_PORT",
        "TILLFLOW_KAFKA_PORT",
        "TILLFLOW_REDIS_PORT",
        "TILLFLOW_AIRFLOW_PORT",
    ):
        monkeypatch.delenv(var, raising=False)
    s = Settings.from_env()
    assert (s.postgres.host, s.postgres.port) == ("127.0.0.1", 55432)
    assert s.kafka.bootstrap == "127.0.0.1:59092"
    assert s.redis.port == 56379
    assert s.airflow.base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("var", "value", "read"),
    [
        ("TILLFLOW_PG_PORT", "6000", lambda s: s.postgres.port),
        ("TILLFLOW_KAFKA_HOST", "10.0.0.1", lambda s: s.kafka.host),
        ("TILLFLOW_REDIS_PORT", "7000", lambda s: s.redis.port),
        ("TILLFLOW_AIRFLOW_PORT", "9090", lambda s: s.airflow.port),
    ],
)
def test_environment_overrides_a_setting(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, read: object
) -> None:
    monkeypatch.setenv(var, value)
    assert str(read(Settings.from_env())) == value  # type: ignore[operator]


@pytest.mark.parametrize("flag", ["1", "true", "yes"])
def test_external_flag_marks_a_service_as_not_started_here(
    monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setenv("TILLFLOW_KAFKA_EXTERNAL", flag)
    assert Settings.from_env().kafka.external is True


def test_a_non_numeric_port_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILLFLOW_PG_PORT", "fivefive")
    with pytest.raises(ValueError, match="TILLFLOW_PG_PORT must be an integer"):
        Settings.from_env()


def test_dsn_uses_tcp_host_never_a_socket_path() -> None:
    s = Settings.from_env()
    dsn = s.postgres.dsn("warehouse", s.postgres.dbt)
    assert "host=127.0.0.1" in dsn and "dbname=warehouse" in dsn and "user=tillflow_dbt" in dsn


def test_dbt_threads_follow_the_environment_and_refuse_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tillflow.config import dbt_threads

    monkeypatch.delenv("TILLFLOW_DBT_THREADS", raising=False)
    assert dbt_threads() == 2
    monkeypatch.setenv("TILLFLOW_DBT_THREADS", "4")
    assert dbt_threads() == 4
    monkeypatch.setenv("TILLFLOW_DBT_THREADS", "0")
    with pytest.raises(ValueError, match="TILLFLOW_DBT_THREADS must be at least 1"):
        dbt_threads()


def test_oltp_has_a_server_of_its_own_and_every_other_database_the_warehouses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TILLFLOW_OLTP_PG_PORT", raising=False)
    monkeypatch.setenv("TILLFLOW_PG_PORT", "6000")
    pg = Settings.from_env().postgres
    assert not pg.shared
    assert "port=55433 dbname=oltp" in pg.dsn("oltp", pg.api)
    assert pg.url("oltp", pg.reader).endswith("@127.0.0.1:55433/oltp")
    for database in ("warehouse", "airflow", "postgres", "lakehouse"):
        assert f"port=6000 dbname={database}" in pg.dsn(database)


def test_oltp_configured_on_the_warehouses_server_shares_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TILLFLOW_PG_PORT", "6000")
    monkeypatch.setenv("TILLFLOW_OLTP_PG_PORT", "6000")
    settings = Settings.from_env()
    from tillflow.runtime.registry import all_services

    assert settings.postgres.shared
    assert "postgres-oltp" not in [s.name for s in all_services(settings)]


def test_the_lag_bound_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TILLFLOW_INGEST_LAG_BOUND", raising=False)
    assert Settings.from_env().ingest_lag_bound == 2_000_000
    monkeypatch.setenv("TILLFLOW_INGEST_LAG_BOUND", "0")
    assert Settings.from_env().ingest_lag_bound == 0
    monkeypatch.setenv("TILLFLOW_INGEST_LAG_BOUND", "lots")
    with pytest.raises(ValueError, match="TILLFLOW_INGEST_LAG_BOUND must be an integer"):
        Settings.from_env()
