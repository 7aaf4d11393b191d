{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='sale_date',
        interval_column_is_date=true,
        on_schema_change='append_new_columns',
    )
}}

-- One row per day and channel: the small aggregate the all-history marts are built from, so
-- their cost follows the number of days, not the number of scans.
with

scan_sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_interval('scanned_at') }}
),

order_lines as (
    select * from {{ ref('fct_order_lines') }}
    where {{ in_interval('ordered_at') }}
),

pos_daily as (
    select
        sale_date,
        'pos' as channel,
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as extended_sales,
        cast(0 as numeric) as extended_discount,
        sum(extended_sales) as profit
    from scan_sales
    group by sale_date
),

orders_daily as (
    select
        order_date as sale_date,
        'orders' as channel,
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as extended_sales,
        sum(extended_discount) as extended_discount,
        sum(profit) as profit
    from order_lines
    group by order_date
),

final as (
    select * from pos_daily
    union all
    select * from orders_daily
)

select * from final
