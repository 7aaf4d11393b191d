with

order_lines as (
    select * from {{ ref('fct_order_lines') }}
),

payment_methods as (
    select * from {{ ref('dim_payment_methods') }}
),

by_method as (
    select
        payment_methods.method,
        coalesce(payment_methods.bank, '-') as bank,
        count(distinct order_lines.order_id) as order_count,
        sum(order_lines.extended_sales - order_lines.extended_discount) as net_sales
    from order_lines
    inner join payment_methods
        on order_lines.payment_method_key = payment_methods.payment_method_key
    group by payment_methods.method, coalesce(payment_methods.bank, '-')
),

final as (
    select
        method,
        bank,
        order_count,
        net_sales,
        round(100.0 * order_count / sum(order_count) over (), 2) as order_share_pct,
        round(100.0 * net_sales / nullif(sum(net_sales) over (), 0), 2) as sales_share_pct
    from by_method
)

select * from final
