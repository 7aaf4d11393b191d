"""Databases, roles and schemas the platform needs on its PostgreSQL server (idempotent)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tillflow import config
from tillflow.config import Role, Settings

if TYPE_CHECKING:
    import psycopg


def _ensure_role(cur: psycopg.Cursor[Any], role: Role, *, replication: bool = False) -> None:
    from psycopg import sql

    exists = cur.execute("select 1 from pg_roles where rolname = %s", (role.name,)).fetchone()
    verb = "alter" if exists else "create"
    cur.execute(
        sql.SQL("{} role {} with login {} password {}").format(
            sql.SQL(verb),
            sql.Identifier(role.name),
            sql.SQL("replication" if replication else "noreplication"),
            sql.Literal(role.password),
        )
    )


def _ensure_database(cur: psycopg.Cursor[Any], name: str, owner: Role) -> None:
    from psycopg import sql

    if cur.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
        cur.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(name), sql.Identifier(owner.name)
            )
        )


def warehouse_dsn(settings: Settings, database: str = config.DB_WAREHOUSE) -> str:
    """The ingestion role's DSN on a warehouse database."""
    return settings.postgres.dsn(database, settings.postgres.ingest)


def admin_dsn(settings: Settings, database: str = config.DB_WAREHOUSE) -> str:
    return settings.postgres.dsn(database)


def ensure_schema(settings: Settings, database: str = config.DB_WAREHOUSE) -> list[str]:
    """Apply the warehouse migrations (raw and ops tables); the names of those applied now."""
    from tillflow.adapters.migrations import migrate

    return migrate(admin_dsn(settings, database), "warehouse")


def ensure_databases(settings: Settings) -> None:
    """Create roles (api, ingest, dbt, airflow), the three databases and the warehouse's raw/ops
    schemas with their grants. Safe to run on every `up`."""
    import psycopg

    pg = settings.postgres
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, pg.airflow)
        _ensure_role(cur, pg.api, replication=True)
        _ensure_role(cur, pg.ingest)
        _ensure_role(cur, pg.dbt)
        _ensure_database(cur, config.DB_AIRFLOW, pg.airflow)
        _ensure_database(cur, config.DB_OLTP, pg.api)
        _ensure_database(cur, config.DB_WAREHOUSE, pg.dbt)
    prepare_warehouse(settings)


def prepare_warehouse(settings: Settings, database: str = config.DB_WAREHOUSE) -> None:
    """The raw/ops schemas of a warehouse database (the real one, or a bench's scratch copy),
    owned by the ingestion role, readable by dbt."""
    import psycopg

    pg = settings.postgres
    ingest, dbt = pg.ingest.name, pg.dbt.name
    with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
        conn.execute(f"grant create, connect on database {database} to {ingest}")
        for schema in (config.SCHEMA_RAW, config.SCHEMA_OPS):
            conn.execute(f"create schema if not exists {schema} authorization {ingest}")
            conn.execute(f"grant usage on schema {schema} to {dbt}")
            conn.execute(f"grant select on all tables in schema {schema} to {dbt}")
            # Tables may be created by the ingest role or by the admin (migrations): dbt reads both.
            for owner in (ingest, pg.admin_user):
                conn.execute(
                    f"alter default privileges for role {owner} in schema {schema} "
                    f"grant select on tables to {dbt}"
                )


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database if it exists, closing its connections (the benches' scratch databases)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def recreate_database(admin_dsn: str, name: str, owner: str) -> None:
    """An empty database ``name`` owned by ``owner``, dropped first if it exists."""
    import psycopg
    from psycopg import sql

    drop_database(admin_dsn, name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
