-- Streaming ingestion (issue 4): what the exactly-once sink and `tillflow status` need on top of 001.

-- A tombstone (null value after a delete) lands as op 't' with its record key; every change keeps
-- the key it was published under.
alter table raw.cdc_changes add column if not exists record_key jsonb;

-- Progress per micro-batch: the offsets it ended at, the lag behind the broker per partition,
-- Spark's own phase durations, and where it ran.
alter table ops.ingest_batches add column if not exists input_rows bigint;
alter table ops.ingest_batches add column if not exists end_offsets jsonb;
alter table ops.ingest_batches add column if not exists lag jsonb;
alter table ops.ingest_batches add column if not exists total_lag bigint;
alter table ops.ingest_batches add column if not exists durations_ms jsonb;
alter table ops.ingest_batches add column if not exists engine text;
create index if not exists ingest_batches_finished on ops.ingest_batches (job, finished_at desc);

create index if not exists dead_letters_received on raw.dead_letters (received_at);

-- Applied by an administrator, the tables belong to the administrator: let the ingestion role
-- write them and dbt read them (applied by tillflow_ingest itself, the schemas' default privileges
-- already do this).
do $$
begin
  if (select rolsuper from pg_roles where rolname = current_user) then
    if exists (select 1 from pg_roles where rolname = 'tillflow_ingest') then
      grant usage on schema raw, ops to tillflow_ingest;
      grant select, insert, update, delete on all tables in schema raw, ops to tillflow_ingest;
    end if;
    if exists (select 1 from pg_roles where rolname = 'tillflow_dbt') then
      grant usage on schema raw, ops to tillflow_dbt;
      grant select on all tables in schema raw, ops to tillflow_dbt;
    end if;
  end if;
end
$$;
