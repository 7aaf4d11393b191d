-- SCD2 versions of every captured OLTP table, built from the CDC change log: the state a key had
-- after each commit is a version, valid from the commit time of that change (changed_at) until
-- the key's next change. The row image stays untyped (row_after); each int_<table>_history types
-- its columns. Every window is partitioned by source_table first, so a consumer's
-- `where source_table = '...'` reaches the scan of the change log.
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
),

positioned as (
    -- A key's changes are ordered by LSN (monotonic with commit order; changes of one transaction
    -- share a commit time but not an LSN). A record without an LSN keeps its place in the Kafka
    -- order (macro cdc_order_lsn). Kafka partition and offset break ties (a redelivered duplicate).
    select
        *,
        {{ cdc_order_lsn() }} as order_lsn
    from changes
),

sequenced as (
    select
        *,
        row_number() over (
            partition by source_table, entity_key
            order by order_lsn, kafka_partition, kafka_offset
        ) as change_seq
    from positioned
),

timed as (
    -- effective_at never goes back within a key, so versions cannot overlap even if a commit
    -- time does (a clock step). The key's first change decides its first version's start.
    select
        *,
        max(changed_at) over (
            partition by source_table, entity_key
            order by change_seq
            rows between unbounded preceding and current row
        ) as effective_at,
        first_value(op) over (
            partition by source_table, entity_key order by change_seq
        ) as first_op,
        first_value(coalesce(row_after, row_before)) over (
            partition by source_table, entity_key order by change_seq
        ) as first_image
    from sequenced
),

ranked_at as (
    select
        *,
        row_number() over (
            partition by source_table, entity_key, effective_at
            order by change_seq desc
        ) as rank_at
    from timed
),

last_at as (
    -- Of the changes of a key at one time (one transaction: an update then a delete, several
    -- updates), only the last is visible outside it: it alone can open or close a version.
    select * from ranked_at
    where rank_at = 1
),

compared as (
    select
        *,
        lag(row_after) over (
            partition by source_table, entity_key order by change_seq
        ) as previous_after,
        lag(op) over (partition by source_table, entity_key order by change_seq) as previous_op
    from last_at
),

significant as (
    -- A change is significant if it deletes, or if its image differs from the previous one
    -- apart from updated_at; the first change of a key always is. Consecutive identical images
    -- (a re-snapshot of unchanged rows) therefore collapse into one version.
    select
        *,
        previous_op is null as is_first
    from compared
    where
        previous_op is null
        or op = 'd'
        or previous_op = 'd'
        or (row_after - 'updated_at') is distinct from (previous_after - 'updated_at')
),

bounded as (
    select
        *,
        lead(effective_at) over (
            partition by source_table, entity_key order by change_seq
        ) as next_at,
        lead(op) over (partition by source_table, entity_key order by change_seq) as next_op
    from significant
),

versions as (
    -- A key's first version is valid from the beginning of time when it came from the initial
    -- snapshot (op r: the row existed before capture started); captured as an insert, update or
    -- delete, from the row's own updated_at when that is earlier (reference data seeded with an
    -- old updated_at after capture started was valid all along; a new row's updated_at is its
    -- commit time). A delete ends the current version (valid_to = time of the delete), opening
    -- none; a key first captured by its delete (replica identity full: the before image is the
    -- whole row) gets the version that delete ended, from the before image.
    select
        source_table,
        entity_key,
        op,
        case when op = 'd' then row_before else row_after end as row_image,
        case
            when not is_first then effective_at
            when first_op = 'r' then cast('1900-01-01' as timestamptz)
            -- least() ignores a null: an image without updated_at is valid from changed_at.
            else least(effective_at, cast(first_image ->> 'updated_at' as timestamptz))
        end as valid_from,
        case
            when op = 'd' then effective_at
            else coalesce(next_at, {{ scd2_open_end() }})
        end as valid_to,
        op = 'd' or coalesce(next_op = 'd', false) as is_deleted
    from bounded
    where op != 'd' or is_first
),

final as (
    -- Empty versions are dropped: a key inserted and deleted in one transaction (never visible),
    -- or first captured by a delete whose image has no earlier updated_at.
    select
        {{ surrogate_key(['entity_key', 'valid_from']) }} as version_key,
        source_table,
        entity_key,
        row_image as row_after,
        valid_from,
        valid_to,
        valid_to = {{ scd2_open_end() }} as is_current,
        is_deleted,
        op as change_op
    from versions
    where valid_from < valid_to
)

select * from final
