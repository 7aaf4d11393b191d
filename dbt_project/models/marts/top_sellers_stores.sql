-- Every store ranked by sales over both channels (till scans and orders), with the per-channel
-- figures as columns; ties share a rank. Read from the per-day aggregate.
with

store_daily_sales as (
    select * from {{ ref('int_store_daily_sales') }}
),

by_store as (
    select
        store_id,
        sum(line_count) as line_count,
        sum(total_quantity) as total_quantity,
        sum(extended_sales) as total_sales,
        coalesce(sum(extended_sales) filter (where channel = 'pos'), 0) as pos_sales,
        coalesce(sum(extended_sales) filter (where channel = 'orders'), 0) as orders_sales,
        rank() over (order by sum(extended_sales) desc) as sales_rank
    from store_daily_sales
    group by store_id
),

latest_stores as (
    -- The latest version names the store (a deleted store keeps its last name).
    {{ latest_versions(ref('dim_stores'), 'store_id') | indent(4) }}
),

final as (
    select
        by_store.*,
        coalesce(latest_stores.store_name, 'unknown') as store_name,
        coalesce(latest_stores.city, 'unknown') as city
    from by_store
    left join latest_stores on by_store.store_id = latest_stores.store_id
)

select * from final
