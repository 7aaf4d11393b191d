-- Product suggestions (issue 6): at most one per order, across restarts, redelivery and writers.
--
-- order_suggestions is the processed-orders ledger: its primary key on order_id is claimed
-- (insert ... on conflict do nothing) in the SAME statement/transaction that adds the
-- is_suggestion line to order_details and the 'suggestion_added' outbox row to order_events.
-- A redelivered or concurrently processed order finds its key taken and changes nothing.
-- published_at records the broker's acknowledgement of the order_suggestion_accepted message,
-- so a restarted service re-publishes only suggestions it stored but may not have published.
-- See include/tillflow/suggestions/store.py.
create table if not exists order_suggestions (
    order_id          bigint primary key references orders (order_id),
    line_no           smallint not null,
    product_id        integer not null,
    category_id       integer not null,
    unit_price        numeric(10, 2) not null check (unit_price > 0),
    discount_type     text not null default 'percentage' check (discount_type = 'percentage'),
    discount_value    numeric(12, 4) not null check (discount_value between 20 and 50),
    discount_factor   numeric(3, 2) not null check (discount_factor between 0.50 and 0.80),
    subtotal          numeric(14, 2) not null check (subtotal >= 0),
    seed              bigint not null,
    source            text not null check (source in ('service', 'airflow')),
    suggested_at      timestamptz not null default clock_timestamp(),
    published_at      timestamptz,
    foreign key (order_id, line_no) references order_details (order_id, line_no)
        deferrable initially deferred
);

create index if not exists order_suggestions_unpublished_idx
    on order_suggestions (order_id) where published_at is null;
create index if not exists order_suggestions_suggested_at_idx
    on order_suggestions (suggested_at);

-- The invariant on the lines themselves, whoever writes them (the service, the Airflow DAG or
-- the orders API's add_suggestion): one suggested line per order.
create unique index if not exists order_details_one_suggestion_idx
    on order_details (order_id) where is_suggestion;

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'tillflow_api')
       and current_user <> 'tillflow_api' then
        grant select, insert, update, delete on order_suggestions to tillflow_api;
    end if;
end
$$;
