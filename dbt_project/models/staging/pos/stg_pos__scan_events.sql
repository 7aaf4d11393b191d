with

source as (
    select * from {{ source('pos', 'pos_scans') }}
),

renamed as (
    select
        scan_id,
        cast(store_id as integer) as store_id,
        cast(checkstand_id as integer) as checkstand_id,
        cast(item_id as integer) as item_id,
        cast(quantity as integer) as quantity,
        scanned_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at,
        quantity = 0 as is_void
    from source
)

select * from renamed
