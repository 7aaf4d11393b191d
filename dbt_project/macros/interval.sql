{#- The Airflow data interval of this run, [start, end), from the dbt vars Airflow passes. -#}
{% macro interval_start() -%}
    cast('{{ var("data_interval_start") }}' as timestamptz)
{%- endmacro %}

{% macro interval_end() -%}
    cast('{{ var("data_interval_end") }}' as timestamptz)
{%- endmacro %}

{% macro in_interval(column) -%}
    ({{ column }} >= {{ interval_start() }} and {{ column }} < {{ interval_end() }})
{%- endmacro %}

{#- For date columns (daily aggregates): the UTC days the interval covers. Intervals are UTC days. -#}
{% macro in_date_interval(column) -%}
    ({{ column }} >= cast({{ interval_start() }} at time zone 'UTC' as date)
    and {{ column }} < cast({{ interval_end() }} at time zone 'UTC' as date))
{%- endmacro %}

{#- For store-local business dates: every business date a UTC instant of the interval can fall on
    (a day either side of its UTC days), so a run recomputes each such date whole from the facts.
    A Hawaii store's business day ends at 08:00 UTC the next day: the run of UTC day D completes
    business date D - 1 and starts D. -#}
{% macro in_business_date_interval(column) -%}
    ({{ column }} >= cast({{ interval_start() }} at time zone 'UTC' as date) - 1
    and {{ column }} < cast({{ interval_end() }} at time zone 'UTC' as date) + 1)
{%- endmacro %}

{#- The scans a business-date range needs (a day of margin for any time zone); with the date
    condition it keeps the partition pruning of the facts, which are partitioned by UTC day. -#}
{% macro near_business_date_interval(column) -%}
    ({{ column }} >= {{ interval_start() }} - interval '2 days'
    and {{ column }} < {{ interval_end() }} + interval '2 days')
{%- endmacro %}

{#- A custom incremental strategy: delete+insert on the interval. Every row of the target whose
    `interval_column` falls in the run's interval is deleted, then the new rows are inserted, in
    one transaction. Re-running a day therefore replaces that day exactly, including rows that no
    longer exist (a scan voided since the last run), which dbt's key-based delete+insert misses.
    A day-partitioned model exchanges the interval's whole day partitions instead
    (replace_day_partitions in partitions.sql). -#}
{% macro get_incremental_replace_interval_sql(arg_dict) %}
    {%- set column = config.require('interval_column') -%}
    {%- if config.get('partitioned_by_day', false) %}
    {{ ensure_rows_partitions(arg_dict['target_relation'], arg_dict['temp_relation']) }};
    {{ replace_day_partitions(
        arg_dict['target_relation'], arg_dict['temp_relation'], arg_dict['dest_columns']
    ) }};
    {%- else %}
    delete from {{ arg_dict['target_relation'] }}
    where
    {{ interval_bounds(
        column,
        config.get('interval_column_is_date', false),
        config.get('interval_column_is_business_date', false)
    ) }};
    {{ get_insert_into_sql(arg_dict['target_relation'], arg_dict['temp_relation'], arg_dict['dest_columns']) }}
    {%- endif %}
{% endmacro %}

{#- `column` within the run's interval (a date column holds UTC days, a business-date column the
    store-local dates the interval touches); true without a column. -#}
{% macro interval_bounds(column, is_date=false, is_business_date=false) -%}
    {%- if column is none -%} true
    {%- elif is_business_date -%} {{ in_business_date_interval(column) }}
    {%- elif is_date -%} {{ in_date_interval(column) }}
    {%- else -%} {{ in_interval(column) }}
    {%- endif -%}
{%- endmacro %}
