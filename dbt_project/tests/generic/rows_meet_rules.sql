{#- Fails with one row per rule that some of the model's rows break (the rule's name and how many
    rows break it), over the rows of the run's interval on `interval_column` (all rows without
    one). `rules` maps a name to a boolean SQL condition each row must meet; a null result breaks
    the rule. All rules are checked in one pass over the rows: on a fact of a day's 39 million
    scans a separate not_null or accepted_values test costs a pass of its own each. -#}
{% test rows_meet_rules(model, rules, interval_column=none, interval_column_is_date=false) %}
with

counted as (
    select
        {%- for name, rule in rules.items() %}
            count(*) filter (
                where not coalesce({{ rule }}, false)
            ) as {{ adapter.quote(name) }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
    where {{ interval_bounds(interval_column, interval_column_is_date) }}
)

select
    broken.rule,
    broken.breaking_rows
from counted
cross join lateral (
    values
    {%- for name in rules %}
        ('{{ name }}', counted.{{ adapter.quote(name) }}){{ "," if not loop.last }}
    {%- endfor %}
) as broken (rule, breaking_rows)
where broken.breaking_rows > 0
{% endtest %}
