-- Total sales per channel (pos scans, orders) and overall, over all batched days.
with

daily_sales as (
    select * from {{ ref('int_daily_sales') }}
),

by_channel as (
    select
        channel,
        min(business_date) as first_sale_date,
        max(business_date) as last_sale_date,
        sum(line_count) as line_count,
        sum(total_quantity) as total_quantity,
        sum(extended_sales) as total_sales,
        sum(extended_discount) as total_discount,
        sum(profit) as total_profit
    from daily_sales
    group by channel
),

overall as (
    select
        'all' as channel,
        min(first_sale_date) as first_sale_date,
        max(last_sale_date) as last_sale_date,
        sum(line_count) as line_count,
        sum(total_quantity) as total_quantity,
        sum(total_sales) as total_sales,
        sum(total_discount) as total_discount,
        sum(total_profit) as total_profit
    from by_channel
),

final as (
    select * from by_channel
    union all
    select * from overall
)

select * from final
