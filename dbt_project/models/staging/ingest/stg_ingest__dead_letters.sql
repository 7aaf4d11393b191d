with

source as (
    select * from {{ source('ingest', 'dead_letters') }}
),

renamed as (
    select
        kafka_topic,
        kafka_partition,
        kafka_offset,
        kafka_key,
        error,
        received_at,
        encode(payload, 'escape') as payload_text
    from source
)

select * from renamed
