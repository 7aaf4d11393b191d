{#- A fact's dimension key, for the rows not on the unknown member: the key exists in the
    dimension and its version belongs to the fact's own natural key (a key coalesced to the
    unknown member always exists, so a plain relationships test on it could never fail; the
    share of unknown members is guarded by row_share_at_most). Rows of the run's interval on
    `interval_column`. -#}
{% test known_member_relationships(model, column_name, to, field, natural_key, to_natural_key, interval_column=none) %}
with

facts as (
    select
        {{ column_name }} as member_key,
        {{ natural_key }} as natural_key
    from {{ model }}
    where
        {{ column_name }} != {{ unknown_key() }}
        and {{ interval_bounds(interval_column) }}
),

members as (
    select
        {{ field }} as member_key,
        {{ to_natural_key }} as natural_key
    from {{ to }}
)

select
    facts.member_key,
    facts.natural_key,
    members.natural_key as member_natural_key
from facts
left join members on facts.member_key = members.member_key
where members.member_key is null or members.natural_key is distinct from facts.natural_key
{% endtest %}
