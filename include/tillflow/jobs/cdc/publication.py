"""The pgoutput publication CDC reads, ensured idempotently (migration 002 creates it first)."""

from __future__ import annotations

from collections.abc import Iterable


def ensure_publication(
    dsn: str, name: str, tables: Iterable[str], schema: str = "public"
) -> list[str]:
    """Create publication ``name`` for ``tables`` or add those it lacks; return the tables added.

    Adding a table needs its owner (or a superuser): run it with the role that migrated the OLTP
    database (the stack uses tillflow_api, which owns database ``oltp``).
    """
    import psycopg
    from psycopg import sql

    wanted = list(tables)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_publication where pubname = %s", (name,)).fetchone()
        idents = sql.SQL(", ").join(sql.Identifier(schema, t) for t in wanted)
        if exists is None:
            conn.execute(
                sql.SQL("create publication {} for table {}").format(sql.Identifier(name), idents)
            )
            return wanted
        have = {
            r[0]
            for r in conn.execute(
                "select tablename from pg_publication_tables where pubname = %s and schemaname = %s",
                (name, schema),
            )
        }
        missing = [t for t in wanted if t not in have]
        if missing:
            conn.execute(
                sql.SQL("alter publication {} add table {}").format(
                    sql.Identifier(name),
                    sql.SQL(", ").join(sql.Identifier(schema, t) for t in missing),
                )
            )
        return missing
