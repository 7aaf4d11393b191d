-- The five most profitable products of each category (profit = extended sales - extended
-- discount, over all order lines); ties share a rank.
with

order_lines as (
    select * from {{ ref('fct_order_lines') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

current_products as (
    select * from products
    where is_current or is_deleted
),

by_product as (
    select
        product_id,
        sum(quantity) as total_quantity,
        sum(extended_sales) as total_sales,
        sum(extended_discount) as total_discount,
        sum(profit) as total_profit
    from order_lines
    group by product_id
),

latest_names as (
    -- The latest version of each product names it (deleted products keep their last name).
    select distinct on (item_id)
        item_id,
        item_name,
        category_id,
        category_name
    from current_products
    order by item_id asc, valid_from desc
),

ranked as (
    select
        by_product.product_id,
        by_product.total_quantity,
        by_product.total_sales,
        by_product.total_discount,
        by_product.total_profit,
        coalesce(latest_names.category_id, -1) as category_id,
        coalesce(latest_names.category_name, 'unknown') as category_name,
        coalesce(latest_names.item_name, 'unknown') as product,
        rank() over (
            partition by coalesce(latest_names.category_id, -1)
            order by by_product.total_profit desc
        ) as profit_rank
    from by_product
    left join latest_names on by_product.product_id = latest_names.item_id
)

select * from ranked
where profit_rank <= 5
