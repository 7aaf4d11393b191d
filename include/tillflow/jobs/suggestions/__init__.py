"""Real-time product suggestions: Redis caches, the low-latency consumer and the DAG's sensor.

The rule itself is pure and lives in ``tillflow.domain.suggestions``.

- ``cache``     the Redis caches, one Lua call per order, loaded from OLTP and kept fresh by CDC
- ``store``     the OLTP write: claim + suggested line + outbox row in one statement (at most once)
- ``engine``    one batch: decide -> store -> publish -> mark published
- ``pipeline``  the consumer's read/decide/publish stages
- ``consumer``  the low-latency consumer (run by the local stack as the ``suggestions`` service)
- ``sensor``    the Airflow sensor's apply function (the same rule code; no Airflow import)
"""
