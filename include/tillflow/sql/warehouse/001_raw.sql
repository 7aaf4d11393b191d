-- The warehouse's raw layer: what ingestion lands from Kafka, exactly once.
-- Every table keeps the Kafka coordinates; (kafka_topic, kafka_partition, kafka_offset) is the
-- idempotency key of the sink. Every consumed record is in exactly one raw table or in dead_letters.
create schema if not exists raw;
create schema if not exists ops;

-- pos.scans (contract: include/tillflow/contracts/pos_scan.v1.json). A void is the same scan_id
-- re-sent with quantity 0; both events are kept, dbt resolves the net effect.
create table if not exists raw.pos_scans (
    scan_id          text not null,
    store_id         integer not null,
    checkstand_id    smallint not null,
    item_id          integer not null,
    quantity         smallint not null,
    scanned_at       timestamptz not null,
    schema_version   smallint not null,
    kafka_topic      text not null,
    kafka_partition  integer not null,
    kafka_offset     bigint not null,
    ingested_at      timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset)
);
create index if not exists pos_scans_scanned_at on raw.pos_scans (scanned_at);

-- One change table per captured OLTP table (Debezium envelope, JSON without schemas).
-- op: c = insert, u = update, d = delete, r = snapshot read.
create table if not exists raw.cdc_changes (
    source_table     text not null,      -- item_master, stores, customers, payment_methods, item_categories
    op               char(1) not null,
    before           jsonb,
    after            jsonb,
    source_lsn       bigint,
    source_ts        timestamptz,        -- commit time in the OLTP database
    kafka_topic      text not null,
    kafka_partition  integer not null,
    kafka_offset     bigint not null,
    ingested_at      timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset)
);
create index if not exists cdc_changes_table_ts on raw.cdc_changes (source_table, source_ts);

-- Order events from the OLTP outbox (one event = one whole order, never half of one).
create table if not exists raw.orders (
    event_id           bigint not null,
    event_type         text not null,    -- order_created | suggestion_added
    order_id           bigint not null,
    customer_id        integer not null,
    payment_method_id  integer not null,
    store_id           integer not null,
    ordered_at         timestamptz not null,
    kafka_topic        text not null,
    kafka_partition    integer not null,
    kafka_offset       bigint not null,
    ingested_at        timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset)
);

create table if not exists raw.order_lines (
    event_id          bigint not null,
    order_id          bigint not null,
    line_no           integer not null,
    product_id        integer not null,
    quantity          integer not null,
    unit_price        numeric(10, 2) not null,
    discount_type     text not null,     -- none | percentage | fixed_amount
    discount_value    numeric(10, 2) not null,
    is_suggestion     boolean not null,
    kafka_topic       text not null,
    kafka_partition   integer not null,
    kafka_offset      bigint not null,
    ingested_at       timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset, line_no)
);

create table if not exists raw.dead_letters (
    kafka_topic      text not null,
    kafka_partition  integer not null,
    kafka_offset     bigint not null,
    kafka_key        bytea,
    payload          bytea,
    error            text not null,
    received_at      timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset)
);

-- Ingestion bookkeeping: the batch-commit log (written in the same transaction as the rows) and
-- progress for `tillflow status`.
create table if not exists ops.ingest_offsets (
    job              text not null,
    kafka_topic      text not null,
    kafka_partition  integer not null,
    next_offset      bigint not null,
    updated_at       timestamptz not null default now(),
    primary key (job, kafka_topic, kafka_partition)
);

create table if not exists ops.ingest_batches (
    job              text not null,
    batch_id         bigint not null,
    rows_landed      bigint not null,
    dead_letters     bigint not null,
    started_at       timestamptz not null,
    finished_at      timestamptz not null,
    primary key (job, batch_id)
);
