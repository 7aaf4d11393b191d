{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='scanned_at',
        partitioned_by_day=true,
        pre_hook=outside_transaction(
            '{{ drop_retired_indexes(["scanned_at", "scan_id"]) }}\n'
            ~ '{{ create_interval_partitions() }}'
        ),
        post_hook="{{ record_fact_batches(source('pos', 'pos_scans'), 'scanned_at') }}",
        on_schema_change='append_new_columns',
    )
}}

-- No index: the day partitions are the table's index. Every reader (the marts, the interval's
-- tests) takes whole UTC days, which partition pruning finds. An index on scanned_at or scan_id
-- took each insert in random order: a full-scale day (38.9M rows) went into a partition in 52 s
-- without them, 387 s with scanned_at's and 1,456 s with both (279 GB of WAL, full pages after
-- every checkpoint).

-- depends_on: {{ ref('fact_batches') }}

with

scan_events as (
    -- The interval's scans plus the voids that can follow them (minutes later, so one day),
    -- that arrived before the build's cutoff (what core.fact_batches records it holds). Past
    -- the interval only voids count: the next day's sales would only be sorted and dropped
    -- (half the rows of the void resolution's sort).
    select * from {{ ref('stg_pos__scan_events') }}
    where
        scanned_at >= {{ interval_start() }}
        and scanned_at < {{ interval_end() }} + interval '1 day'
        and (scanned_at < {{ interval_end() }} or is_void)
        and {{ arrived() }}
),

products as (
    select * from {{ ref('dim_products') }}
),

stores as (
    select * from {{ ref('dim_stores') }}
),

scans as (
    {{ resolve_scan_voids('scan_events', scan_filter=in_interval('scanned_at')) | indent(4) }}
),

sold as (
    select * from scans
    where not is_voided
),

priced_products as (
    -- The product version and price of each scan, by the unknown-item rule (macro price_by_item).
    {{ price_by_item('sold', 'item_id', 'scanned_at', 'products') | indent(4) }}
),

priced as (
    -- As-of join: the store version valid when the scan happened.
    select
        priced_products.*,
        priced_products.priced_product_key as product_key,
        priced_products.priced_unit_price as unit_price,
        coalesce(stores.store_key, {{ unknown_key() }}) as store_key,
        coalesce(stores.timezone, 'UTC') as store_timezone
    from priced_products
    left join stores
        on
            priced_products.store_id = stores.store_id
            and priced_products.scanned_at >= stores.valid_from
            and priced_products.scanned_at < stores.valid_to
),

final as (
    select
        scan_id as sale_key,
        scan_id,
        cast(to_char(scanned_at at time zone 'UTC', 'YYYYMMDD') as integer) as date_key,
        cast(scanned_at at time zone 'UTC' as date) as sale_date,
        -- The store-local calendar day: what the store's daily figures are booked on.
        cast(scanned_at at time zone store_timezone as date) as business_date,
        scanned_at,
        scanned_at at time zone store_timezone as scanned_at_local,
        store_key,
        store_id,
        checkstand_id,
        product_key,
        item_id,
        quantity,
        unit_price,
        price_source,
        unit_price * quantity as extended_sales,
        least({{ interval_end() }}, current_timestamp) as batched_through
    from priced
)

select * from final
