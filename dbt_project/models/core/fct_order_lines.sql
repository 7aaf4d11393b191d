{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='ordered_at',
        post_hook="{{ record_fact_batches(source('orders', 'orders'), 'ordered_at') }}",
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['ordered_at']}],
    )
}}

-- depends_on: {{ ref('fact_batches') }}

with

order_events as (
    -- The interval's order events that arrived before the build's cutoff (core.fact_batches).
    select * from {{ ref('stg_orders__orders') }}
    where {{ in_interval('ordered_at') }} and {{ arrived() }}
),

order_lines as (
    select * from {{ ref('stg_orders__order_lines') }}
    where {{ arrived() }}
),

products as (
    select * from {{ ref('dim_products') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

payment_methods as (
    select * from {{ ref('dim_payment_methods') }}
),

stores as (
    select * from {{ ref('dim_stores') }}
),

headers as (
    -- One header per order: its order_created event (any event of the order if that is missing).
    select distinct on (order_id)
        order_id,
        customer_id,
        payment_method_id,
        store_id,
        ordered_at
    from order_events
    order by order_id asc, (event_type = 'order_created') desc, event_id asc
),

lines as (
    -- One row per (order, line): a re-delivered event is ignored.
    select distinct on (order_lines.order_id, order_lines.line_no) order_lines.*
    from order_lines
    inner join order_events on order_lines.event_id = order_events.event_id
    order by
        order_lines.order_id asc,
        order_lines.line_no asc,
        order_lines.event_id asc,
        order_lines.kafka_offset asc
),

discounted as (
    select
        lines.*,
        headers.customer_id,
        headers.payment_method_id,
        headers.store_id,
        headers.ordered_at,
        {{ discount_per_unit('lines.discount_type', 'lines.discount_value', 'lines.unit_price') }}
            as discount_per_unit
    from lines
    inner join headers on lines.order_id = headers.order_id
),

item_versions as (
    -- The product version of each line by the unknown-item rule (macro price_by_item): valid at
    -- order time, else the product's last known one (a deleted product). Its price is unused:
    -- an order line carries the price charged.
    {{ price_by_item('discounted', 'product_id', 'ordered_at', 'products') | indent(4) }}
),

joined as (
    -- As-of joins: the dimension versions valid when the order was placed.
    select
        item_versions.*,
        item_versions.priced_product_key as product_key,
        coalesce(customers.customer_key, {{ unknown_key() }}) as customer_key,
        coalesce(payment_methods.payment_method_key, {{ unknown_key() }}) as payment_method_key,
        coalesce(stores.store_key, {{ unknown_key() }}) as store_key,
        coalesce(stores.timezone, 'UTC') as store_timezone
    from item_versions
    left join customers
        on
            item_versions.customer_id = customers.customer_id
            and item_versions.ordered_at >= customers.valid_from
            and item_versions.ordered_at < customers.valid_to
    left join payment_methods
        on
            item_versions.payment_method_id = payment_methods.payment_method_id
            and item_versions.ordered_at >= payment_methods.valid_from
            and item_versions.ordered_at < payment_methods.valid_to
    left join stores
        on
            item_versions.store_id = stores.store_id
            and item_versions.ordered_at >= stores.valid_from
            and item_versions.ordered_at < stores.valid_to
),

final as (
    select
        {{ surrogate_key(['order_id', 'line_no']) }} as order_line_key,
        order_id,
        line_no,
        event_id,
        cast(to_char(ordered_at at time zone 'UTC', 'YYYYMMDD') as integer) as date_key,
        cast(ordered_at at time zone 'UTC' as date) as order_date,
        cast(ordered_at at time zone store_timezone as date) as business_date,
        ordered_at,
        customer_key,
        customer_id,
        payment_method_key,
        payment_method_id,
        store_key,
        store_id,
        product_key,
        product_id,
        is_suggestion,
        quantity,
        unit_price,
        discount_type,
        discount_value,
        discount_per_unit,
        unit_price - discount_per_unit as net_price,
        unit_price * quantity as extended_sales,
        discount_per_unit * quantity as extended_discount,
        unit_price * quantity - discount_per_unit * quantity as profit,
        least({{ interval_end() }}, current_timestamp) as batched_through
    from joined
)

select * from final
