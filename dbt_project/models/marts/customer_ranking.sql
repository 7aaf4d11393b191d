with

order_lines as (
    select * from {{ ref('fct_order_lines') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

latest_customers as (
    select distinct on (customer_id)
        customer_id,
        customer_name,
        tier
    from customers
    order by customer_id asc, valid_from desc
),

by_customer as (
    select
        customer_id,
        count(distinct order_id) as order_count,
        sum(quantity) as total_quantity,
        sum(extended_sales - extended_discount) as net_sales
    from order_lines
    group by customer_id
),

ranked as (
    select
        by_customer.customer_id,
        by_customer.order_count,
        by_customer.total_quantity,
        by_customer.net_sales,
        coalesce(latest_customers.customer_name, 'unknown') as customer_name,
        coalesce(latest_customers.tier, 'unknown') as tier,
        dense_rank() over (order by by_customer.net_sales desc) as sales_rank
    from by_customer
    left join latest_customers on by_customer.customer_id = latest_customers.customer_id
)

select * from ranked
