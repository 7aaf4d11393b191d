-- CDC's heartbeat row. OLTP and the warehouse share one PostgreSQL cluster and so one WAL, and
-- the CDC slot can only move past WAL once CDC confirms a position in the OLTP database: while
-- OLTP is quiet and the warehouse writes, the slot would hold every byte the warehouse writes.
-- Debezium updates this row every heartbeat interval (heartbeat.action.query, as the CDC role),
-- so there is always a recent OLTP change to confirm. The table is in the CDC publication but
-- not captured (no topic): its changes only carry the position forward.
create table if not exists cdc_heartbeat (
    id      smallint primary key check (id = 1),
    beat_at timestamptz not null
);

insert into cdc_heartbeat (id, beat_at) values (1, now()) on conflict (id) do nothing;
