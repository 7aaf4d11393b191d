-- Every product ranked by units sold and by sales over both channels (till scans and orders),
-- with the per-channel figures as columns; ties share a rank. Read from the per-day aggregate;
-- top_profitable_products ranks these rows by profit.
with

product_daily_sales as (
    select * from {{ ref('int_product_daily_sales') }}
),

latest_products as (
    -- The latest version names the product (a deleted product keeps its last name).
    {{ latest_versions(ref('dim_products'), 'item_id') | indent(4) }}
),

by_product as (
    select
        product_id,
        sum(total_quantity) as total_quantity,
        sum(extended_sales) as total_sales,
        sum(extended_discount) as total_discount,
        sum(profit) as total_profit,
        coalesce(sum(total_quantity) filter (where channel = 'pos'), 0) as pos_quantity,
        coalesce(sum(extended_sales) filter (where channel = 'pos'), 0) as pos_sales,
        coalesce(sum(profit) filter (where channel = 'pos'), 0) as pos_profit,
        coalesce(sum(total_quantity) filter (where channel = 'orders'), 0) as orders_quantity,
        coalesce(sum(extended_sales) filter (where channel = 'orders'), 0) as orders_sales,
        coalesce(sum(profit) filter (where channel = 'orders'), 0) as orders_profit
    from product_daily_sales
    group by product_id
),

named as (
    select
        by_product.*,
        coalesce(latest_products.item_name, 'unknown') as product,
        coalesce(latest_products.category_id, -1) as category_id,
        coalesce(latest_products.category_name, 'unknown') as category_name
    from by_product
    left join latest_products on by_product.product_id = latest_products.item_id
),

final as (
    select
        *,
        rank() over (order by total_quantity desc) as quantity_rank,
        rank() over (order by total_sales desc) as sales_rank
    from named
)

select * from final
