-- Orders written by the orders API, and the transactional outbox CDC publishes them from.
--
-- An order, its lines and its `order_created` outbox event are written in ONE transaction, so
-- the complete order reaches Kafka as one event (topic oltp.public.order_events) and no consumer
-- ever sees half an order. See include/tillflow/api/repository.py and the order event contract.
create table if not exists orders (
    order_id          bigserial primary key,
    customer_id       integer not null references customers (customer_id),
    payment_method_id integer not null references payment_methods (payment_method_id),
    store_id          integer not null references stores (store_id),
    ordered_at        timestamptz not null default now(),
    created_at        timestamptz not null default now()
);

create index if not exists orders_customer_idx on orders (customer_id);
create index if not exists orders_ordered_at_idx on orders (ordered_at);

create table if not exists order_details (
    order_id          bigint not null references orders (order_id),
    line_no           smallint not null check (line_no > 0),
    product_id        integer not null references item_master (item_id),
    quantity          integer not null check (quantity > 0),
    unit_price        numeric(10, 2) not null check (unit_price >= 0),
    discount_type     text not null default 'none'
        check (discount_type in ('none', 'percentage', 'fixed_amount')),
    -- as given: a percent for 'percentage', the "value x 1000" unit of docs/business-rules.md for 'fixed_amount'
    discount_value    numeric(12, 4) not null default 0 check (discount_value >= 0),
    -- the per-unit discount as a share of unit_price, 0..100
    discount_percent  numeric(5, 2) not null default 0
        check (discount_percent >= 0 and discount_percent <= 100),
    subtotal          numeric(14, 2) not null check (subtotal >= 0),
    is_suggestion     boolean not null default false,
    primary key (order_id, line_no),
    check (discount_type <> 'none' or discount_value = 0)
);

create index if not exists order_details_product_idx on order_details (product_id);

-- The outbox: one row per order-level event; the payload is the complete event (contract v1).
create table if not exists order_events (
    event_id          bigserial primary key,
    order_id          bigint not null references orders (order_id),
    event_type        text not null check (event_type in ('order_created', 'suggestion_added')),
    payload           jsonb not null,
    created_at        timestamptz not null default now()
);

create index if not exists order_events_order_idx on order_events (order_id);

alter table orders replica identity full;
alter table order_details replica identity full;
alter table order_events replica identity full;

-- The API role reads the reference tables and writes orders, whichever role ran the migrations
-- (tables created by the admin are otherwise invisible to it).
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'tillflow_api')
       and current_user <> 'tillflow_api' then
        grant select, insert, update, delete on all tables in schema public to tillflow_api;
        grant usage, select on all sequences in schema public to tillflow_api;
        execute format(
            'alter default privileges for role %I in schema public '
            'grant select, insert, update, delete on tables to tillflow_api', current_user);
        execute format(
            'alter default privileges for role %I in schema public '
            'grant usage, select on sequences to tillflow_api', current_user);
    end if;
end
$$;

-- The CDC publication (pgoutput). Created here because adding a table needs its owner; the CDC
-- process re-checks it at start (include/tillflow/cdc/publication.py) and adds missing tables.
do $$
begin
    if not exists (select 1 from pg_publication where pubname = 'tillflow_cdc') then
        create publication tillflow_cdc for table
            item_categories, stores, item_master, customers, payment_methods, order_events;
    end if;
end
$$;
