#!/usr/bin/env bash
# First start of the `tillflow-oltp-postgres` container (Astro mode), OLTP's own server: the roles
# and the database the local stack creates in include/tillflow/adapters/warehouse.py
# (ensure_oltp_database), with the same names and passwords. OLTP's migration 008 grants the
# dashboards' reader its two tables.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres <<SQL
create role tillflow_api with login replication password '${TILLFLOW_PG_API_PASSWORD:-tillflow_api}';
create role tillflow_reader with login password '${TILLFLOW_PG_READER_PASSWORD:-tillflow_reader}';
create database oltp owner tillflow_api;
\connect oltp
grant connect on database oltp to tillflow_reader;
SQL
