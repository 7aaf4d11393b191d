-- Latest state of OLTP table payment_methods: the last change per key, unless it was a delete.
-- The typed columns come from the jsonb row image Debezium sends (JSON without schemas,
-- decimal.handling.mode=string: numerics and timestamps arrive as strings).
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
    where source_table = 'payment_methods'
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
        cast(row_after ->> 'payment_method_id' as integer) as payment_method_id,
        cast(row_after ->> 'method' as text) as method,
        cast(row_after ->> 'bank' as text) as bank,
        cast(row_after ->> 'name' as text) as payment_method_name,
        cast(row_after ->> 'updated_at' as timestamptz) as updated_at,
        changed_at as last_changed_at
    from latest
)

select * from final
