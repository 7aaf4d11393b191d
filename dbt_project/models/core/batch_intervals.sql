{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='interval_start',
    )
}}

-- depends_on: {{ ref('fct_sales') }}
-- depends_on: {{ ref('fct_order_lines') }}

with

run_interval as (
    select
        {{ interval_start() }} as interval_start,
        least({{ interval_end() }}, current_timestamp) as interval_end,
        current_timestamp as built_at
)

select * from run_interval
