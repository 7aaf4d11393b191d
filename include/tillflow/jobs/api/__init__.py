"""The orders API: FastAPI + psycopg 3, orders written with a transactional outbox."""
