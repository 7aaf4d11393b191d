{#- SCD2 invariant: at most one current row per key; with `deleted_column`, a key without a
    current row must have been deleted. -#}
{% test scd2_one_current_row(model, key, current_column='is_current', deleted_column=none) %}
with

versions as (
    select * from {{ model }}
),

per_key as (
    select
        {{ key }} as entity_key,
        count(*) filter (where {{ current_column }}) as current_rows
        {%- if deleted_column %},
        bool_or({{ deleted_column }}) as was_deleted
        {%- endif %}
    from versions
    group by {{ key }}
)

select * from per_key
where
    current_rows > 1
    {%- if deleted_column %}
    or (current_rows = 0 and not was_deleted)
    {%- endif %}
{% endtest %}

{#- SCD2 invariant: the versions of a key never overlap and each is a non-empty interval. -#}
{% test scd2_no_overlap(model, key, valid_from='valid_from', valid_to='valid_to') %}
with

versions as (
    select
        {{ key }} as entity_key,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        lead({{ valid_from }}) over (
            partition by {{ key }} order by {{ valid_from }}
        ) as next_valid_from
    from {{ model }}
)

select * from versions
where valid_from >= valid_to or next_valid_from < valid_to
{% endtest %}
