{{ config(alias='daily_sales_summary') }}

-- Lambda view: the batch mart plus the scans not batched yet (scanned at or after the batch
-- watermark), void-resolved and priced the same way, so totals are exact and fresh.
with

batch as (
    select * from {{ ref('daily_sales_summary') }}
),

watermark as (
    select coalesce(max(interval_end), cast('-infinity' as timestamptz)) as batched_through
    from {{ ref('batch_intervals') }}
),

speed_events as (
    select scan_events.*
    from {{ ref('stg_pos__scan_events') }} as scan_events
    -- A scalar subquery (one value, known before the scan) lets the planner use the index on
    -- scanned_at: the speed layer costs the events after the watermark, not all of raw.
    where scan_events.scanned_at >= (select watermark.batched_through from watermark)
),

speed_scans as (
    {{ resolve_scan_voids('speed_events') | indent(4) }}
),

-- Priced from the live SCD2 history (views over the CDC change log), not from the dimensions:
-- those change only when the nightly build runs, and every repricing since would be missed.
products as (
    select
        version_key as product_key,
        item_id,
        item_name,
        unit_price,
        valid_from,
        valid_to
    from {{ ref('int_item_master_history') }}
),

stores as (
    select * from {{ ref('int_stores_history') }}
),

speed_sold as (
    select * from speed_scans
    where not is_voided
),

speed_priced as (
    -- Priced by the same unknown-item rule as fct_sales (macro price_by_item).
    {{ price_by_item('speed_sold', 'item_id', 'scanned_at', 'products') | indent(4) }}
),

speed as (
    select
        speed_priced.store_id,
        speed_priced.item_id as product_id,
        cast(speed_priced.scanned_at at time zone coalesce(stores.timezone, 'UTC') as date)
            as business_date,
        coalesce(max(products.item_name), 'unknown') as product,
        count(*) as scan_count,
        sum(speed_priced.quantity) as total_quantity,
        sum(speed_priced.quantity * speed_priced.priced_unit_price) as total_sales
    from speed_priced
    left join products on speed_priced.priced_product_key = products.product_key
    left join stores
        on
            speed_priced.store_id = stores.store_id
            and speed_priced.scanned_at >= stores.valid_from
            and speed_priced.scanned_at < stores.valid_to
    group by
        speed_priced.store_id,
        speed_priced.item_id,
        cast(speed_priced.scanned_at at time zone coalesce(stores.timezone, 'UTC') as date)
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
