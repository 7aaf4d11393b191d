with

source as (
    select * from {{ source('orders', 'orders') }}
),

renamed as (
    select
        event_id,
        event_type,
        order_id,
        customer_id,
        payment_method_id,
        store_id,
        ordered_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
    from source
)

select * from renamed
