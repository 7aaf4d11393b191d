with

source as (
    -- Tombstones (op 't': the null-value record Kafka keeps after a delete) carry no change:
    -- the delete before them closed the row. Ingestion lands them so every record is accounted.
    select * from {{ source('cdc', 'cdc_changes') }}
    where op <> 't'
),

renamed as (
    select
        source_table,
        op,
        before as row_before,
        after as row_after,
        source_lsn,
        source_ts as changed_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at,
        coalesce(after, before) ->> case source_table
            when 'item_master' then 'item_id'
            when 'item_categories' then 'category_id'
            when 'stores' then 'store_id'
            when 'customers' then 'customer_id'
            when 'payment_methods' then 'payment_method_id'
        end as entity_key
    from source
)

select * from renamed
