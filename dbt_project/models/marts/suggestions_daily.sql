{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='order_date',
        interval_column_is_date=true,
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['order_date']}],
    )
}}

with

order_lines as (
    select * from {{ ref('fct_order_lines') }}
    where {{ in_interval('ordered_at') }}
),

per_store_day as (
    -- Every store and UTC day with orders, so the suggestion rate has its denominator.
    select
        order_date,
        store_id,
        count(distinct order_id) as order_count,
        count(distinct order_id) filter (where is_suggestion) as suggested_order_count,
        count(*) filter (where is_suggestion) as suggested_line_count,
        coalesce(sum(quantity) filter (where is_suggestion), 0) as suggested_quantity,
        coalesce(sum(extended_sales) filter (where is_suggestion), 0) as suggested_gross_revenue,
        coalesce(sum(extended_discount) filter (where is_suggestion), 0) as suggestion_discount,
        coalesce(sum(profit) filter (where is_suggestion), 0) as suggested_net_revenue
    from order_lines
    group by order_date, store_id
),

final as (
    select
        {{ surrogate_key(['order_date', 'store_id']) }} as store_day_key,
        order_date,
        store_id,
        order_count,
        suggested_order_count,
        suggested_line_count,
        suggested_quantity,
        suggested_gross_revenue,
        suggestion_discount,
        suggested_net_revenue,
        round(100.0 * suggested_order_count / order_count, 2) as suggestion_rate_pct
    from per_store_day
)

select * from final
