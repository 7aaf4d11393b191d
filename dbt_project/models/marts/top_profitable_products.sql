-- The five most profitable products of each category over both channels (till scans and order
-- lines; profit by the rules of docs/business-rules.md, "Profit"); ties share a rank, so a
-- category may list more than five. Ranks the per-product totals of top_sellers_products.
with

product_totals as (
    select * from {{ ref('top_sellers_products') }}
),

ranked as (
    select
        product_id,
        total_quantity,
        total_sales,
        total_discount,
        total_profit,
        pos_profit,
        orders_profit,
        category_id,
        category_name,
        product,
        rank() over (partition by category_id order by total_profit desc) as profit_rank
    from product_totals
)

select * from ranked
where profit_rank <= 5
