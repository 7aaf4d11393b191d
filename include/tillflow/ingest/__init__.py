"""Ingestion from Kafka into the warehouse's raw layer: pure parsing/validation and the sink.

- ``records``: the Kafka record batch schema (the same columns as Spark's native ``kafka`` source)
  and dead-letter helpers.
- ``scans``: ``pos.scans`` → ``raw.pos_scans`` (vectorised with pyarrow; per-record fallback).
- ``cdc``: Debezium change events → ``raw.cdc_changes``.
- ``orders``: the order-events outbox → ``raw.orders`` + ``raw.order_lines``.
- ``pgcopy``: PostgreSQL binary COPY encoding (vectorised with numpy for the scans).
- ``sink``: the exactly-once sink (COPY + merge + batch-commit log in one transaction).
"""
