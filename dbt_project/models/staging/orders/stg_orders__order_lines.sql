with

source as (
    select * from {{ source('orders', 'order_lines') }}
),

renamed as (
    select
        event_id,
        order_id,
        line_no,
        product_id,
        quantity,
        unit_price,
        discount_type,
        discount_value,
        is_suggestion,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
    from source
)

select * from renamed
