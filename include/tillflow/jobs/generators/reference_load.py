"""Loading the seeded reference data into the OLTP database (once; a second run inserts nothing).

The rows themselves are built by ``tillflow.domain.generation.reference`` (pure).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tillflow.domain.generation import DEFAULT_SEED
from tillflow.domain.generation.reference import (
    COLUMNS,
    REFERENCE_VALID_FROM,
    Reference,
    build_reference,
)


@dataclass(frozen=True)
class LoadResult:
    table: str
    loaded: int  # rows inserted by this run
    present: int  # rows in the table afterwards


def reference_loaded(dsn: str) -> dict[str, Any] | None:
    """The record of the seeded load (seed, row counts), or None if it has not happened."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("select details from generator_runs where kind = 'reference'").fetchone()
    return None if row is None else dict(row[0])


def load_reference(dsn: str, ref: Reference, seed: int) -> list[LoadResult]:
    """Load the seeded reference rows once: COPY into temp tables, insert those missing.

    The load records itself in ``generator_runs`` in the same transaction, under an advisory lock:
    a second run inserts nothing, so it never brings back rows that churn deleted nor undoes price
    and tier changes. Rows that are already there with a seeded key (say, loaded by hand) are kept.
    """
    import psycopg

    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('tillflow_reference'))")
        claimed = conn.execute(
            "insert into generator_runs (kind, slot, details) values ('reference', %s, %s)"
            " on conflict do nothing returning kind",
            (REFERENCE_VALID_FROM, json.dumps({"seed": seed, "rows": ref.counts()})),
        ).fetchone()
        results: list[LoadResult] = []
        for table, cols in COLUMNS.items():
            loaded = 0
            if claimed:
                names = ", ".join(cols)
                conn.execute(
                    f"create temp table seed_{table} (like {table} including defaults)"
                    " on commit drop"
                )
                with (
                    conn.cursor() as cur,
                    cur.copy(f"copy seed_{table} ({names}) from stdin") as copy,
                ):
                    for r in ref.tables[table]:
                        copy.write_row(r)
                loaded = conn.execute(
                    f"insert into {table} ({names}) select {names} from seed_{table}"
                    " on conflict do nothing"
                ).rowcount
            count = conn.execute(f"select count(*) from {table}").fetchone()
            results.append(LoadResult(table, loaded, int(count[0]) if count else 0))
    return results


def bootstrap_oltp(dsn: str, seed: int = DEFAULT_SEED) -> tuple[list[str], list[LoadResult]]:
    """Apply the OLTP migrations, then load the reference data of ``seed`` where missing."""
    from tillflow.adapters.migrations import migrate

    applied = migrate(dsn, "oltp")
    if reference_loaded(dsn) is not None:
        return applied, load_reference(dsn, Reference({t: [] for t in COLUMNS}), seed)
    return applied, load_reference(dsn, build_reference(seed), seed)
