"""The warehouse tables as Airflow assets: ingestion produces the raw tables, the daily ELT reads
them and produces the marts, and DAGs downstream of the marts are scheduled on them.

URIs name the warehouse logically (``tillflow://warehouse/<schema>/<table>``), not by host: the
same asset under `make up` (127.0.0.1) and `astro dev start` (tillflow-postgres).
"""

from __future__ import annotations

from airflow.sdk import Asset

#: What `tillflow_ingest` lands (spark/landing.py): every raw table, dead letters included.
RAW_TABLES = ("pos_scans", "orders", "order_lines", "cdc_changes", "dead_letters")

#: The marts the daily ELT builds (dbt_project/models/marts; a unit test keeps the two in step).
MARTS = (
    "customer_ranking",
    "daily_sales_summary",
    "payment_method_distribution",
    "sales_by_day_of_week",
    "suggestions_daily",
    "top_profitable_products",
    "top_sellers_products",
    "top_sellers_stores",
    "total_sales",
)


def warehouse_table(schema: str, table: str) -> Asset:
    return Asset(
        name=f"{schema}.{table}", uri=f"tillflow://warehouse/{schema}/{table}", group=schema
    )


RAW = [warehouse_table("raw", t) for t in RAW_TABLES]
MART_ASSETS = [warehouse_table("marts", t) for t in MARTS]
