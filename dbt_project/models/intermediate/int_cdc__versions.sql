-- SCD2 versions of every captured OLTP table, built from the CDC change log: every change is a
-- version, valid from the commit time of the change (changed_at) until the next change of the
-- same key. The row image stays untyped (row_after); each int_<table>_history types its columns.
-- Every window is partitioned by source_table first, so a consumer's
-- `where source_table = '...'` reaches the scan of the change log.
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
),

sequenced as (
    select
        *,
        row_number() over (
            partition by source_table, entity_key
            order by changed_at, source_lsn, kafka_partition, kafka_offset
        ) as change_seq
    from changes
),

compared as (
    select
        *,
        lag(row_after) over (
            partition by source_table, entity_key order by change_seq
        ) as previous_after,
        lag(op) over (partition by source_table, entity_key order by change_seq) as previous_op
    from sequenced
),

significant as (
    -- A change is significant if it deletes, or if its image differs from the previous one
    -- apart from updated_at; the first change of a key always is. Consecutive identical images
    -- (a re-snapshot) therefore collapse into one version.
    select * from compared
    where
        change_seq = 1
        or op = 'd'
        or previous_op = 'd'
        or (row_after - 'updated_at') is distinct from (previous_after - 'updated_at')
),

bounded as (
    select
        *,
        lead(changed_at) over (
            partition by source_table, entity_key order by change_seq
        ) as next_changed_at,
        lead(op) over (partition by source_table, entity_key order by change_seq) as next_op,
        min(change_seq) over (partition by source_table, entity_key) as first_seq
    from significant
),

versions as (
    -- A key's first version is valid from the beginning of time when it came from the initial
    -- snapshot (op r: the row existed before capture started); captured as an insert or update,
    -- from the row's own updated_at when that is earlier (reference data seeded with an old
    -- updated_at after capture started was valid all along; a new row's updated_at is its commit
    -- time). A delete ends the current version (valid_to = time of the delete), opening none.
    select
        *,
        case
            when change_seq != first_seq then changed_at
            when op = 'r' then cast('1900-01-01' as timestamptz)
            -- least() ignores a null: an image without updated_at is valid from changed_at.
            else least(changed_at, cast(row_after ->> 'updated_at' as timestamptz))
        end as valid_from,
        coalesce(next_changed_at, {{ scd2_open_end() }}) as valid_to
    from bounded
    where op != 'd'
),

final as (
    -- Versions shorter than zero time are dropped.
    select
        {{ surrogate_key(['entity_key', 'valid_from']) }} as version_key,
        source_table,
        entity_key,
        row_after,
        valid_from,
        valid_to,
        valid_to = {{ scd2_open_end() }} as is_current,
        coalesce(next_op = 'd', false) as is_deleted,
        op as change_op
    from versions
    where valid_from < valid_to
)

select * from final
