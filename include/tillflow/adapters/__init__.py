"""Adapters to the external systems (PostgreSQL, Kafka, Redis, Spark), built from plain settings."""
