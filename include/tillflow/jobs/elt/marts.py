"""Fingerprints of the marts: a hash of each mart's rows in a total order (idempotency checks)."""

from __future__ import annotations

MARTS: tuple[str, ...] = (
    "daily_sales_summary",
    "sales_by_day_of_week",
    "top_profitable_products",
    "top_sellers_products",
    "top_sellers_stores",
    "payment_method_distribution",
    "customer_ranking",
    "total_sales",
    "suggestions_daily",
)


def mart_hashes(dsn: str, schema: str = "marts") -> dict[str, str]:
    """md5 over each mart's rows ordered by every column; equal hashes = identical marts."""
    import psycopg
    from psycopg import sql

    hashes: dict[str, str] = {}
    with psycopg.connect(dsn) as conn:
        for table in MARTS:
            rel = sql.Identifier(schema, table)
            query = sql.SQL(
                "select count(*), coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '')"
                " from {} as t"
            ).format(rel)
            row = conn.execute(query).fetchone()
            assert row is not None
            hashes[table] = f"{row[0]}:{row[1]}"
    return hashes


def top_rows(
    dsn: str, table: str, order_by: str, limit: int = 5, schema: str = "marts"
) -> list[str]:
    """The first rows of a mart as text lines (for `make demo`)."""
    import psycopg
    from psycopg import sql

    if table not in MARTS:
        raise ValueError(f"unknown mart {table!r}")
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            sql.SQL("select * from {} order by " + order_by + " limit %s").format(
                sql.Identifier(schema, table)
            ),
            (limit,),
        )
        names = [d.name for d in cur.description or []]
        return [", ".join(f"{n}={v}" for n, v in zip(names, row, strict=True)) for row in cur]
