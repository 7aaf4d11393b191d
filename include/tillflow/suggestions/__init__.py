"""Real-time product suggestions (issue 6): one rule, Redis caches, a service and a DAG.

- ``rule``    the suggestion rule as pure functions (qualification, product, discount, seed)
- ``events``  order events and CDC envelopes in, ``order_suggestion_accepted`` messages out
- ``cache``   the Redis caches, one Lua call per order, loaded from OLTP and kept fresh by CDC
- ``store``   the OLTP write: claim + suggested line + outbox row in one statement (at most once)
- ``engine``  one batch: decide -> store -> publish -> mark published
- ``service`` the low-latency consumer (a managed process of the local stack)
- ``managed`` its ``Service`` for `tillflow up`
- ``sensor``  the Airflow sensor's apply function (the same rule code; no Airflow import)
- ``bench``   `tillflow bench suggestions`
"""
