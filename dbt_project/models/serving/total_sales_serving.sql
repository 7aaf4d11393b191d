{{ config(alias='total_sales') }}

-- Lambda view: total sales per channel = batched days + raw events after the batch watermark.
with

batch as (
    select * from {{ ref('int_daily_sales') }}
),

watermark as (
    select coalesce(max(interval_end), cast('-infinity' as timestamptz)) as batched_through
    from {{ ref('batch_intervals') }}
),

speed_scans as (
    select * from {{ ref('daily_sales_summary_serving') }}
    where layer = 'speed'
),

speed_order_events as (
    select order_events.*
    from {{ ref('stg_orders__orders') }} as order_events
    -- A scalar subquery (one value, known before the scan), as in daily_sales_summary_serving.
    where order_events.ordered_at >= (select watermark.batched_through from watermark)
),

speed_order_lines as (
    select distinct on (order_lines.order_id, order_lines.line_no) order_lines.*
    from {{ ref('stg_orders__order_lines') }} as order_lines
    inner join speed_order_events on order_lines.event_id = speed_order_events.event_id
    order by
        order_lines.order_id asc,
        order_lines.line_no asc,
        order_lines.event_id asc,
        order_lines.kafka_offset asc
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
        sum(scan_count) as line_count,
        sum(total_quantity) as total_quantity,
        sum(total_sales) as total_sales,
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
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(unit_price * quantity) as total_sales,
        sum(
            quantity * {{ discount_per_unit('discount_type', 'discount_value', 'unit_price') }}
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
