{#- Reconciliation: sum(`column`) of the model equals sum(`compare_column`) of `compare_model`.
    Each side is restricted by an optional SQL `filter` and, when `interval_column` is given, to
    the run's interval on that column (`*_is_date` for date columns holding UTC days,
    `*_is_business_date` for store-local business dates: the dates the interval touches). -#}
{% test sums_match(
    model,
    column,
    compare_model,
    compare_column,
    filter='true',
    interval_column=none,
    interval_column_is_date=false,
    interval_column_is_business_date=false,
    compare_filter='true',
    compare_interval_column=none,
    compare_interval_column_is_date=false,
    compare_interval_column_is_business_date=false
) %}
with

model_total as (
    select coalesce(sum({{ column }}), 0) as total from {{ model }}
    where ({{ filter }}) and {{ interval_bounds(interval_column, interval_column_is_date, interval_column_is_business_date) }}
),

compare_total as (
    select coalesce(sum({{ compare_column }}), 0) as total from {{ compare_model }}
    where
        ({{ compare_filter }})
        and {{ interval_bounds(
            compare_interval_column,
            compare_interval_column_is_date,
            compare_interval_column_is_business_date
        ) }}
)

select
    model_total.total as model_total,
    compare_total.total as compare_total
from model_total
cross join compare_total
where model_total.total != compare_total.total
{% endtest %}
