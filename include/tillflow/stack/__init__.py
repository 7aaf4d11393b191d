"""The local stack: embedded PostgreSQL, Tansu, Redis and Airflow as managed processes."""
