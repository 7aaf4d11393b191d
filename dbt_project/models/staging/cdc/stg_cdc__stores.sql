-- Latest state of OLTP table stores: the last change per key, unless it was a delete.
-- The typed columns come from the jsonb row image Debezium sends (JSON without schemas,
-- decimal.handling.mode=string: numerics and timestamps arrive as strings).
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
    where source_table = 'stores'
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
    -- The columns keep the OLTP table's order (snap_stores copies it): hence noqa ST06.
    select  -- noqa: ST06
        cast(row_after ->> 'store_id' as integer) as store_id,
        cast(row_after ->> 'name' as text) as store_name,
        cast(row_after ->> 'address' as text) as address,
        cast(row_after ->> 'city' as text) as city,
        cast(row_after ->> 'state' as text) as state,
        cast(row_after ->> 'postal_code' as text) as postal_code,
        cast(row_after ->> 'latitude' as numeric(9, 6)) as latitude,
        cast(row_after ->> 'longitude' as numeric(9, 6)) as longitude,
        cast(row_after ->> 'timezone' as text) as timezone,
        cast(row_after ->> 'checkstands' as smallint) as checkstands,
        -- Debezium sends a date as days since the epoch or as an ISO string.
        case
            when jsonb_typeof(row_after -> 'opened_on') = 'number'
                then date '1970-01-01' + cast(row_after ->> 'opened_on' as integer)
            else cast(row_after ->> 'opened_on' as date)
        end as opened_on,
        cast(row_after ->> 'updated_at' as timestamptz) as updated_at,
        changed_at as last_changed_at
    from latest
)

select * from final
