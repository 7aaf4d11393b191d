{{ config(alias='daily_sales_summary') }}

-- Lambda view: the mart plus what raw holds that the mart does not hold yet, by the mart's batch
-- ledger (core.mart_batches, written in the same transaction as the mart's rows): exact at any
-- moment, during a build, after a failed one, with late events (macros/serving.sql).
with

batch as (
    select * from {{ ref('daily_sales_summary') }}
),

speed_rows as (
    {{ scan_speed('daily_sales_summary') | indent(4) }}
),

speed as (
    -- Signed: a late scan adds, a batched scan voided since takes back; units the mart holds
    -- as they are cancel out and leave no row.
    select
        store_id,
        product_id,
        business_date,
        coalesce(max(item_name), 'unknown') as product,
        sum(sign) as scan_count,
        sum(sign * quantity) as total_quantity,
        sum(sign * sales) as total_sales
    from speed_rows
    group by store_id, product_id, business_date
    having sum(sign) <> 0 or sum(sign * quantity) <> 0 or sum(sign * sales) <> 0
),

final as (
    select
        store_id,
        product_id,
        product,
        business_date,
        scan_count,
        total_quantity,
        total_sales,
        'batch' as layer
    from batch
    union all
    select
        store_id,
        product_id,
        product,
        business_date,
        scan_count,
        total_quantity,
        total_sales,
        'speed' as layer
    from speed
)

select * from final
