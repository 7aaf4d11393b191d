-- Broker incarnations (tillflow.domain.events.coordinates). A broker with memory storage loses
-- everything on a restart and numbers offsets from 0 again; each incarnation (told apart by the
-- cluster id: the local broker gets a new one at every start) gets an epoch, and the raw tables'
-- kafka_offset is epoch * 2^40 + the broker's offset, so new records never collide with old ones.
create table if not exists ops.broker_epochs (
    epoch            integer primary key,
    cluster_id       text not null unique,
    first_seen_at    timestamptz not null default now(),
    -- the highest end offset ingestion saw per "topic/partition" (broker offsets): what the
    -- incarnation held, for counting what it took with it
    high_watermarks  jsonb not null default '{}'::jsonb,
    updated_at       timestamptz not null default now()
);

-- Records a broker incarnation held that ingestion never read before the broker went away:
-- broker offsets [first_lost, first_lost + records) of the partition in that epoch.
create table if not exists ops.ingest_losses (
    job              text not null,
    epoch            integer not null,
    kafka_topic      text not null,
    kafka_partition  integer not null,
    first_lost       bigint not null,
    records          bigint not null,
    detected_at      timestamptz not null default now(),
    primary key (job, epoch, kafka_topic, kafka_partition)
);

create or replace function ops.broker_epoch(kafka_offset bigint) returns integer
    language sql immutable parallel safe
    return (kafka_offset >> 40)::integer;

create or replace function ops.broker_offset(kafka_offset bigint) returns bigint
    language sql immutable parallel safe
    return kafka_offset & ((1::bigint << 40) - 1);

-- Applied by an administrator: the ingestion role writes both tables (002_ingest.sql says why).
do $$
begin
  if (select rolsuper from pg_roles where rolname = current_user)
     and exists (select 1 from pg_roles where rolname = 'tillflow_ingest') then
    grant select, insert, update, delete on ops.broker_epochs, ops.ingest_losses to tillflow_ingest;
  end if;
end
$$;
