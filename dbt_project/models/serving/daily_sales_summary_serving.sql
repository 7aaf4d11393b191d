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
    select * from {{ ref('int_item_master_history') }}
),

stores as (
    select * from {{ ref('int_stores_history') }}
),

speed as (
    select
        speed_scans.store_id,
        speed_scans.item_id as product_id,
        cast(speed_scans.scanned_at at time zone coalesce(stores.timezone, 'UTC') as date)
            as business_date,
        coalesce(max(products.item_name), 'unknown') as product,
        count(*) as scan_count,
        sum(speed_scans.quantity) as total_quantity,
        sum(speed_scans.quantity * products.unit_price) as total_sales
    from speed_scans
    left join products
        on
            speed_scans.item_id = products.item_id
            and speed_scans.scanned_at >= products.valid_from
            and speed_scans.scanned_at < products.valid_to
    left join stores
        on
            speed_scans.store_id = stores.store_id
            and speed_scans.scanned_at >= stores.valid_from
            and speed_scans.scanned_at < stores.valid_to
    where not speed_scans.is_voided
    group by
        speed_scans.store_id,
        speed_scans.item_id,
        cast(speed_scans.scanned_at at time zone coalesce(stores.timezone, 'UTC') as date)
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
