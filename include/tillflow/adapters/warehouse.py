"""Databases, roles, schemas and grants of the platform's PostgreSQL server (idempotent): the one
place that prepares a warehouse database, the real one and the scratch/test copies alike."""

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


def migrate_warehouse(dsn: str) -> list[str]:
    """Apply the warehouse migrations (raw and ops tables) through an administrator's ``dsn``;
    the names of those applied now."""
    from tillflow.adapters.migrations import migrate

    return migrate(dsn, "warehouse")


def ensure_schema(settings: Settings, database: str = config.DB_WAREHOUSE) -> list[str]:
    """Apply the warehouse migrations (raw and ops tables); the names of those applied now."""
    return migrate_warehouse(admin_dsn(settings, database))


def ensure_databases(settings: Settings) -> None:
    """On the warehouse's server: create roles (api, ingest, dbt, airflow, reader), the databases
    (airflow, warehouse, Superset's, the lakehouse catalog; oltp too when OLTP shares this
    server) and the warehouse's raw/ops schemas with their grants. Safe to run on every `up`."""
    import psycopg
    from psycopg import sql

    pg = settings.postgres
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, pg.airflow)
        _ensure_role(cur, pg.api, replication=True)
        _ensure_role(cur, pg.ingest)
        _ensure_role(cur, pg.dbt)
        _ensure_role(cur, pg.reader)
        _ensure_role(cur, settings.superset.metadata_role)
        # The ELT's arrival cutoff reads when other sessions' write transactions began
        # (pg_stat_activity hides that from other roles without this).
        cur.execute(sql.SQL("grant pg_read_all_stats to {}").format(sql.Identifier(pg.dbt.name)))
        _ensure_database(cur, config.DB_AIRFLOW, pg.airflow)
        if pg.shared:
            _ensure_database(cur, config.DB_OLTP, pg.api)
        _ensure_database(cur, config.DB_SUPERSET, settings.superset.metadata_role)
        # The lakehouse's Iceberg catalog (its tables are pyiceberg's, created on first use).
        _ensure_database(cur, settings.lakehouse.catalog_database, pg.dbt)
    # The warehouse's migrations are applied by whoever lands data first (the ingest DAG's
    # `migrate` task, `tillflow ingest`, the managed ingest service), not by `up`.
    prepare_warehouse(settings, migrate=False)


def ensure_oltp_database(settings: Settings) -> None:
    """On OLTP's own server: the roles that use it (the API's, with replication for CDC; the
    dashboards' reader) and the oltp database. Safe to run on every `up`."""
    import psycopg

    pg = settings.postgres
    server = pg.dsn_at(pg.oltp, "postgres")
    with psycopg.connect(server, autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, pg.api, replication=True)
        _ensure_role(cur, pg.reader)
        _ensure_database(cur, config.DB_OLTP, pg.api)


#: What the dashboards read, per database: schemas whose every table (now and later) the reader
#: may select, and single tables.
READER_SCHEMAS: dict[str, tuple[str, ...]] = {
    config.DB_WAREHOUSE: ("marts", "serving", "ops", "raw"),
}
READER_TABLES: dict[str, tuple[str, ...]] = {
    config.DB_OLTP: ("public.orders", "public.order_suggestions"),
    config.DB_AIRFLOW: ("public.dag_run",),
}


def grant_reader(settings: Settings) -> list[str]:
    """Let the read-only role select what the dashboards show (idempotent); return what is not
    there yet to grant on (a schema dbt has not built, a table a migration has not created)."""
    import psycopg
    from psycopg import sql

    pg = settings.postgres
    reader = sql.Identifier(pg.reader.name)
    missing: list[str] = []
    for database in (*READER_SCHEMAS, *READER_TABLES):
        with psycopg.connect(pg.dsn(database), autocommit=True) as conn:
            run = conn.execute
            run(
                sql.SQL("grant connect on database {} to {}").format(
                    sql.Identifier(database), reader
                )
            )
            if database in READER_SCHEMAS:
                # dbt drops and recreates its tables and views and creates its schemas on first
                # build: default privileges of the roles that create them cover what comes later.
                for owner in (pg.dbt.name, pg.ingest.name, pg.admin_user):
                    for what in ("select on tables", "usage on schemas"):
                        run(
                            sql.SQL("alter default privileges for role {} grant {} to {}").format(
                                sql.Identifier(owner), sql.SQL(what), reader
                            )
                        )
            targets: list[tuple[str, str | None]] = [
                (schema, None) for schema in READER_SCHEMAS.get(database, ())
            ]
            targets += [(t.split(".")[0], t.split(".")[1]) for t in READER_TABLES.get(database, ())]
            for schema, table in targets:
                found = run(
                    "select to_regclass(%s)" if table else "select to_regnamespace(%s)",
                    (f"{schema}.{table}" if table else schema,),
                ).fetchone()
                if found is None or found[0] is None:
                    missing.append(f"{database}.{schema}" + (f".{table}" if table else ""))
                    continue
                run(
                    sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), reader)
                )
                on = (
                    sql.SQL("{}").format(sql.Identifier(schema, table))
                    if table
                    else sql.SQL("all tables in schema {}").format(sql.Identifier(schema))
                )
                run(sql.SQL("grant select on {} to {}").format(on, reader))
    return missing


def prepare_warehouse(
    settings: Settings,
    database: str = config.DB_WAREHOUSE,
    *,
    fresh: bool = False,
    migrate: bool = True,
) -> str:
    """Make ``database`` a warehouse: the real one, or a scratch/test copy with the same roles,
    schemas and grants; return its administrator DSN. Idempotent.

    - the database is owned by the dbt role (dbt creates its own schemas there); ``fresh`` drops
      it first (a bench's clean start);
    - the ingestion role may connect and create there, and owns the ``raw`` and ``ops`` schemas
      (when this function creates them; migrations run first made them the administrator's);
    - dbt reads every table of ``raw`` and ``ops``, whoever created it: the ingestion role or the
      administrator (the migrations), now and later (default privileges);
    - ``migrate``: apply the warehouse migrations (as the administrator), then grant again so the
      tables they created are readable whatever the order they were made in.
    """
    import psycopg
    from psycopg import sql

    pg = settings.postgres
    if fresh:
        drop_database(pg.dsn("postgres"), database)
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn, conn.cursor() as cur:
        _ensure_database(cur, database, pg.dbt)
    dsn = admin_dsn(settings, database)
    ingest, dbt = sql.Identifier(pg.ingest.name), sql.Identifier(pg.dbt.name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("grant create, connect on database {} to {}").format(
                sql.Identifier(database), ingest
            )
        )
        for name in (config.SCHEMA_RAW, config.SCHEMA_OPS):
            schema = sql.Identifier(name)
            conn.execute(
                sql.SQL("create schema if not exists {} authorization {}").format(schema, ingest)
            )
            # Tables may be created by the ingest role or by the admin (migrations): dbt reads both.
            for owner in (pg.ingest.name, pg.admin_user):
                conn.execute(
                    sql.SQL(
                        "alter default privileges for role {} in schema {} grant select on tables"
                        " to {}"
                    ).format(sql.Identifier(owner), schema, dbt)
                )
    if migrate:
        migrate_warehouse(dsn)
    _grant_read(dsn, pg.dbt.name)
    return dsn


def _grant_read(dsn: str, role: str) -> None:
    """``role`` reads every table that exists now in the raw and ops schemas."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (config.SCHEMA_RAW, config.SCHEMA_OPS):
            schema = sql.Identifier(name)
            conn.execute(
                sql.SQL("grant usage on schema {} to {}").format(schema, sql.Identifier(role))
            )
            conn.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(
                    schema, sql.Identifier(role)
                )
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
