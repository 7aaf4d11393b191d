-- Reconciliation for the run's interval: extended sales of the fact = sum over the raw order
-- lines (quantity x unit price, each (order, line) once) of the orders placed in the interval.
with

raw_orders as (
    select * from {{ source('orders', 'orders') }}
    where {{ in_interval('ordered_at') }}
),

raw_lines as (
    select distinct on (order_lines.order_id, order_lines.line_no)
        order_lines.quantity,
        order_lines.unit_price
    from {{ source('orders', 'order_lines') }} as order_lines
    inner join raw_orders on order_lines.event_id = raw_orders.event_id
    order by order_lines.order_id asc, order_lines.line_no asc, order_lines.event_id asc
),

raw_total as (
    select coalesce(sum(quantity * unit_price), 0) as extended_sales from raw_lines
),

fact_total as (
    select coalesce(sum(extended_sales), 0) as extended_sales
    from {{ ref('fct_order_lines') }}
    where {{ in_interval('ordered_at') }}
)

select
    raw_total.extended_sales as raw_extended_sales,
    fact_total.extended_sales as fact_extended_sales
from raw_total
cross join fact_total
where raw_total.extended_sales != fact_total.extended_sales
