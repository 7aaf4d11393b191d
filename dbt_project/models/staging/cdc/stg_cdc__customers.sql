-- Latest state of OLTP table customers: the last change per key, unless it was a delete.
-- The typed columns come from the jsonb row image Debezium sends (JSON without schemas,
-- decimal.handling.mode=string: numerics and timestamps arrive as strings).
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
    where source_table = 'customers'
),

ranked as (
    select
        *,
        row_number() over (
            partition by entity_key
            order by changed_at desc, source_lsn desc, kafka_partition desc, kafka_offset desc
        ) as recency
    from changes
),

latest as (
    select * from ranked
    where recency = 1 and op != 'd'
),

final as (
    select
        cast(row_after ->> 'customer_id' as integer) as customer_id,
        cast(row_after ->> 'name' as text) as customer_name,
        cast(row_after ->> 'email' as text) as email,
        cast(row_after ->> 'tier' as text) as tier,
        cast(row_after ->> 'updated_at' as timestamptz) as updated_at,
        changed_at as last_changed_at
    from latest
)

select * from final
