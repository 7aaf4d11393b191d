{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='interval_start',
        on_schema_change='append_new_columns',
    )
}}

-- depends_on: {{ ref('fct_sales') }}
-- depends_on: {{ ref('fct_order_lines') }}

with

run_interval as (
    select
        {{ interval_start() }} as interval_start,
        least({{ interval_end() }}, current_timestamp) as interval_end,
        current_timestamp as built_at,
        -- Every raw row that arrived (ingested_at) before this instant is in the build; the
        -- daily DAG passes the cutoff it took before dbt started (tillflow.jobs.elt.late_days).
        -- Without it, nothing is vouched for, and the next daily run builds the interval again.
        {{ arrivals_through() }} as arrivals_through
)

select * from run_interval
