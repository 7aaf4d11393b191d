"""The local stack (runtime): embedded PostgreSQL, Tansu, Redis, Airflow and the platform's own
processes as managed services, their registry and their lifecycle."""
