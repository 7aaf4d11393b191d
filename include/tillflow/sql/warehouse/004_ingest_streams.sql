-- Progress rows per streaming query. The catch-up DAG (checkpoint "ingest") and the continuous
-- job (checkpoint "ingest-continuous") share job "ingest", its commit log and its fencing, but
-- each query numbers its micro-batches from its own checkpoint: keyed by (job, batch_id) alone,
-- one overwrote the other's rows. stream = the checkpoint's folder name.
alter table ops.ingest_batches add column if not exists stream text not null default '';
do $$
declare
  pk name;
begin
  select conname into pk from pg_constraint
  where conrelid = 'ops.ingest_batches'::regclass and contype = 'p';
  if pk is not null then
    execute format('alter table ops.ingest_batches drop constraint %I', pk);
  end if;
  alter table ops.ingest_batches add primary key (job, stream, batch_id);
end
$$;
