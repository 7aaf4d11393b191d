"""Versioned SQL migrations: apply ``sql/<database>/NNN_*.sql`` in order, each once.

Applied versions are recorded in ``tillflow_migrations`` of the target database; each file runs in
its own transaction together with its record, so a failed file leaves nothing half-applied.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def migration_files(database: str) -> list[Path]:
    folder = Path(str(resources.files("tillflow") / "sql" / database))
    return sorted(folder.glob("[0-9][0-9][0-9]_*.sql"))


def migrate(dsn: str, database: str) -> list[str]:
    """Apply the pending migrations of ``database`` (oltp or warehouse); return their names."""
    import psycopg

    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        # One migrator at a time per database (a DAG and `tillflow up` may race).
        conn.execute("select pg_advisory_lock(hashtext('tillflow_migrations'))")
        conn.execute(
            "create table if not exists public.tillflow_migrations ("
            " version text primary key, applied_at timestamptz not null default now())"
        )
        done = {r[0] for r in conn.execute("select version from public.tillflow_migrations")}
        for path in migration_files(database):
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text().encode())
                conn.execute("insert into public.tillflow_migrations values (%s)", (path.name,))
            applied.append(path.name)
        conn.execute("select pg_advisory_unlock(hashtext('tillflow_migrations'))")
    return applied
