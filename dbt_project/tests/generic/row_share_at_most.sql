{#- Fails when the share of the model's rows matching `condition` exceeds `max_share` (a fraction),
    over the rows of the run's interval on `interval_column` (all rows without one). Guards a
    quality level rather than a per-row rule: a few unknown members are expected, many are a
    defect upstream (an item master not captured, a store missing). -#}
{% test row_share_at_most(model, condition, max_share, interval_column=none, interval_column_is_date=false) %}
with

counted as (
    select
        count(*) as total_rows,
        count(*) filter (where {{ condition }}) as matching_rows
    from {{ model }}
    where {{ interval_bounds(interval_column, interval_column_is_date) }}
)

select
    total_rows,
    matching_rows,
    round(1.0 * matching_rows / total_rows, 6) as matching_share,
    {{ max_share }} as max_share
from counted
where total_rows > 0 and 1.0 * matching_rows / total_rows > {{ max_share }}
{% endtest %}
