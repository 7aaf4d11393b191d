{#- The typed columns of each captured OLTP table, as (json field, column name, type).
    Debezium (JSON without schemas, decimal.handling.mode=string) sends numerics as strings,
    timestamptz as ISO strings and dates as ISO strings or days since the epoch. -#}
{% macro cdc_fields(entity) -%}
    {%- set fields = {
        'item_master': [
            ('item_id', 'item_id', 'integer'),
            ('upc', 'upc', 'text'),
            ('name', 'item_name', 'text'),
            ('category_id', 'category_id', 'integer'),
            ('unit_price', 'unit_price', 'numeric(10, 2)'),
            ('frequency', 'frequency', 'double precision'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'item_categories': [
            ('category_id', 'category_id', 'integer'),
            ('name', 'category_name', 'text'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'stores': [
            ('store_id', 'store_id', 'integer'),
            ('name', 'store_name', 'text'),
            ('address', 'address', 'text'),
            ('city', 'city', 'text'),
            ('state', 'state', 'text'),
            ('postal_code', 'postal_code', 'text'),
            ('latitude', 'latitude', 'numeric(9, 6)'),
            ('longitude', 'longitude', 'numeric(9, 6)'),
            ('timezone', 'timezone', 'text'),
            ('checkstands', 'checkstands', 'smallint'),
            ('opened_on', 'opened_on', 'date'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'customers': [
            ('customer_id', 'customer_id', 'integer'),
            ('name', 'customer_name', 'text'),
            ('email', 'email', 'text'),
            ('tier', 'tier', 'text'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'payment_methods': [
            ('payment_method_id', 'payment_method_id', 'integer'),
            ('method', 'method', 'text'),
            ('bank', 'bank', 'text'),
            ('name', 'payment_method_name', 'text'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
    } -%}
    {{ return(fields[entity]) }}
{%- endmacro %}

{#- The primary key field of each captured table. -#}
{% macro cdc_key(entity) -%}
    {{ return(cdc_fields(entity)[0][0]) }}
{%- endmacro %}

{#- Typed columns from a jsonb row image. -#}
{% macro cdc_columns(entity, image) -%}
    {%- for field, name, type in cdc_fields(entity) %}
        {%- if type == 'date' %}
    case
        when jsonb_typeof({{ image }} -> '{{ field }}') = 'number'
            then date '1970-01-01' + cast({{ image }} ->> '{{ field }}' as integer)
        else cast({{ image }} ->> '{{ field }}' as date)
    end as {{ name }}{{ "," if not loop.last }}
        {%- else %}
    cast({{ image }} ->> '{{ field }}' as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The latest state of a captured table: the last change per key, unless it was a delete. -#}
{% macro cdc_latest_state(entity) %}
with

changes as (
    select * from {{ ref('stg_cdc__changes') }}
    where source_table = '{{ entity }}'
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
        {{ cdc_columns(entity, 'row_after') | indent(8) }},
        changed_at as last_changed_at
    from latest
)

select * from final
{% endmacro %}

{#- SCD2 history of a captured table built from its change log: every change is a version,
    valid from the commit time of the change (source_ts) until the next change of the key.
    A delete ends the current version (valid_to = time of the delete) without opening a new one.
    A key's first version, when it came from the initial snapshot (op r), is valid from the
    beginning of time: the row existed before capture started. A first version captured as an
    insert or update is valid from the row's own updated_at when that is earlier than the
    capture (reference data seeded with an old updated_at after CDC started: it was valid all
    along); a churn insert has updated_at = its commit time. Consecutive identical images
    (a re-snapshot) are collapsed; versions shorter than zero time are dropped. -#}
{% macro cdc_scd2_history(entity, changes_relation) %}
with

changes as (
    select * from {{ changes_relation }}
    where source_table = '{{ entity }}'
),

sequenced as (
    select
        *,
        row_number() over (
            partition by entity_key
            order by changed_at, source_lsn, kafka_partition, kafka_offset
        ) as change_seq
    from changes
),

compared as (
    select
        *,
        lag(row_after) over (partition by entity_key order by change_seq) as previous_after,
        lag(op) over (partition by entity_key order by change_seq) as previous_op
    from sequenced
),

significant as (
    -- A change is significant if it deletes, or if its image differs from the previous one
    -- apart from updated_at; the first change of a key always is.
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
        lead(changed_at) over (partition by entity_key order by change_seq) as next_changed_at,
        lead(op) over (partition by entity_key order by change_seq) as next_op,
        min(change_seq) over (partition by entity_key) as first_seq
    from significant
),

versions as (
    select
        *,
        case
            when change_seq = first_seq and op = 'r' then cast('1900-01-01' as timestamptz)
            when change_seq = first_seq
                then least(
                    changed_at,
                    coalesce(cast(row_after ->> 'updated_at' as timestamptz), changed_at)
                )
            else changed_at
        end as valid_from,
        coalesce(next_changed_at, {{ scd2_open_end() }}) as valid_to
    from bounded
    where op != 'd'
),

final as (
    select
        {{ surrogate_key(['entity_key', 'valid_from']) }} as version_key,
        {{ cdc_columns(entity, 'row_after') | indent(8) }},
        valid_from,
        valid_to,
        valid_to = {{ scd2_open_end() }} as is_current,
        coalesce(next_op = 'd', false) as is_deleted,
        op as change_op
    from versions
    where valid_from < valid_to
)

select * from final
{% endmacro %}
