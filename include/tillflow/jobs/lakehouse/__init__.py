"""The lakehouse export: raw scans and the daily marts as Iceberg tables partitioned by day,
and DuckDB over them (``tillflow sql``)."""
