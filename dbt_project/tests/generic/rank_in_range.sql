{#- A rank column holds 1 .. (rows of its partition), and at most `max_rank` when given. -#}
{% test rank_in_range(model, column_name, partition_by=none, max_rank=none) %}
with

ranked as (
    select
        {{ column_name }} as rank_value,
        count(*) over ({% if partition_by %}partition by {{ partition_by }}{% endif %}) as partition_rows
    from {{ model }}
)

select * from ranked
where
    rank_value is null
    or rank_value < 1
    or rank_value > partition_rows
    {%- if max_rank is not none %}
    or rank_value > {{ max_rank }}
    {%- endif %}
{% endtest %}
