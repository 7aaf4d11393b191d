"""Ingestion from Kafka into the warehouse's raw layer (the Spark jobs and the plain consumer).

- ``sink``: the exactly-once sink (COPY + merge + batch-commit log in one transaction).
- ``pipeline``: one micro-batch of records through the parsers (``tillflow.domain.events``) and
  the sink.
- ``plain``: the plain-Python consumer (the yardstick for the Spark job).
- ``checkpoints``: one query per checkpoint folder (a lock).
- ``jobargs``: the Spark job's options.
"""
