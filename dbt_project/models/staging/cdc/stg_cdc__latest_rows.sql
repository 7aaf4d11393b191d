-- Latest state of every captured OLTP table: the last change per (source_table, entity_key),
-- unless it was a delete. The row image stays untyped (row_after); each stg_cdc__<table> types
-- its columns. The window is partitioned by source_table first, so a consumer's
-- `where source_table = '...'` reaches the scan of the change log.
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
),

positioned as (
    -- The order of int_cdc__versions (macro cdc_order_lsn), so the latest state is the state of
    -- the history's current version.
    select
        *,
        {{ cdc_order_lsn() }} as order_lsn
    from changes
),

ranked as (
    select
        *,
        row_number() over (
            partition by source_table, entity_key
            order by order_lsn desc, kafka_partition desc, kafka_offset desc
        ) as recency
    from positioned
),

latest as (
    select * from ranked
    where recency = 1 and op != 'd'
),

final as (
    select
        source_table,
        entity_key,
        row_after,
        changed_at
    from latest
)

select * from final
