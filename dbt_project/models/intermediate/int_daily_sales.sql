{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='business_date',
        interval_column_is_date=true,
        interval_column_is_business_date=true,
        on_schema_change='append_new_columns',
        pre_hook="{{ lock_facts(['fct_sales', 'fct_order_lines']) }}",
        post_hook="{{ record_mart_batches(['fct_sales', 'fct_order_lines']) }}",
    )
}}

-- depends_on: {{ ref('mart_batches') }}

-- One row per store-local business date and channel: the small aggregate the all-history marts
-- are built from, so their cost follows the number of days, not the number of scans. A run
-- recomputes every business date its UTC interval touches, whole, from the facts.
with

scan_sales as (
    select * from {{ ref('fct_sales') }}
    where
        {{ near_business_date_interval('scanned_at') }}
        and {{ in_business_date_interval('business_date') }}
),

order_lines as (
    select * from {{ ref('fct_order_lines') }}
    where
        {{ near_business_date_interval('ordered_at') }}
        and {{ in_business_date_interval('business_date') }}
),

pos_daily as (
    select
        business_date,
        'pos' as channel,
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as extended_sales,
        cast(0 as numeric) as extended_discount,
        sum(extended_sales) as profit
    from scan_sales
    group by business_date
),

orders_daily as (
    select
        business_date,
        'orders' as channel,
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as extended_sales,
        sum(extended_discount) as extended_discount,
        sum(profit) as profit
    from order_lines
    group by business_date
),

final as (
    select * from pos_daily
    union all
    select * from orders_daily
)

select * from final
