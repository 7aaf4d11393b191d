#!/usr/bin/env bash
# First start of the `tillflow-postgres` container (Astro mode), the warehouse's server: the roles
# and databases that the local stack creates in include/tillflow/adapters/warehouse.py
# (ensure_databases, prepare_warehouse), with the same names, passwords and grants. OLTP has a
# server of its own (scripts/docker-init-oltp.sh).
set -euo pipefail
# Passwords from the container's environment (docker-compose.override.yml), the local defaults else.
psql -v ON_ERROR_STOP=1 -U postgres <<SQL
create role tillflow_api with login replication password '${TILLFLOW_PG_API_PASSWORD:-tillflow_api}';
create role tillflow_ingest with login password '${TILLFLOW_PG_INGEST_PASSWORD:-tillflow_ingest}';
create role tillflow_dbt with login password '${TILLFLOW_PG_DBT_PASSWORD:-tillflow_dbt}';
create role tillflow_reader with login password '${TILLFLOW_PG_READER_PASSWORD:-tillflow_reader}';
create role superset with login password '${TILLFLOW_PG_SUPERSET_PASSWORD:-superset}';
create database superset owner superset;
create database warehouse owner tillflow_dbt;
create database lakehouse owner tillflow_dbt;
\connect warehouse
grant create, connect on database warehouse to tillflow_ingest;
create schema raw authorization tillflow_ingest;
create schema ops authorization tillflow_ingest;
grant usage on schema raw, ops to tillflow_dbt;
alter default privileges for role tillflow_ingest in schema raw grant select on tables to tillflow_dbt;
alter default privileges for role tillflow_ingest in schema ops grant select on tables to tillflow_dbt;
alter default privileges for role postgres in schema raw grant select on tables to tillflow_dbt;
alter default privileges for role postgres in schema ops grant select on tables to tillflow_dbt;
-- The dashboards' read-only role (adapters/warehouse.py, grant_reader): every table of the
-- schemas dbt and ingestion create, now and later.
grant connect on database warehouse to tillflow_reader;
grant usage on schema raw, ops to tillflow_reader;
alter default privileges for role tillflow_dbt grant select on tables to tillflow_reader;
alter default privileges for role tillflow_dbt grant usage on schemas to tillflow_reader;
alter default privileges for role tillflow_ingest grant select on tables to tillflow_reader;
alter default privileges for role postgres grant select on tables to tillflow_reader;
SQL
