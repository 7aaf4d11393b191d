{{ config(alias='total_sales') }}

-- Lambda view: total sales per channel = what core.int_daily_sales holds + what raw holds that
-- it does not hold yet, by its batch ledger (core.mart_batches; macros/serving.sql).
with

batch as (
    select * from {{ ref('int_daily_sales') }}
),

speed_scans as (
    {{ scan_speed('int_daily_sales') | indent(4) }}
),

speed_order_lines as (
    {{ order_line_speed('int_daily_sales') | indent(4) }}
),

channels as (
    select
        'pos' as channel,
        sum(line_count) as line_count,
        sum(total_quantity) as total_quantity,
        sum(extended_sales) as total_sales,
        sum(extended_discount) as total_discount
    from batch
    where channel = 'pos'
    union all
    select
        'pos' as channel,
        sum(sign) as line_count,
        sum(sign * quantity) as total_quantity,
        sum(sign * sales) as total_sales,
        0 as total_discount
    from speed_scans
    union all
    select
        'orders' as channel,
        sum(line_count) as line_count,
        sum(total_quantity) as total_quantity,
        sum(extended_sales) as total_sales,
        sum(extended_discount) as total_discount
    from batch
    where channel = 'orders'
    union all
    select
        'orders' as channel,
        sum(sign) as line_count,
        sum(sign * quantity) as total_quantity,
        sum(sign * unit_price * quantity) as total_sales,
        sum(
            sign * quantity
            * {{ discount_per_unit('discount_type', 'discount_value', 'unit_price') }}
        ) as total_discount
    from speed_order_lines
),

final as (
    select
        channel,
        coalesce(sum(line_count), 0) as line_count,
        coalesce(sum(total_quantity), 0) as total_quantity,
        coalesce(sum(total_sales), 0) as total_sales,
        coalesce(sum(total_discount), 0) as total_discount,
        coalesce(sum(total_sales), 0) - coalesce(sum(total_discount), 0) as net_sales
    from channels
    group by channel
)

select * from final
