{#- Snapshots get `is_current` as a generated column (valid_to = 2100-01-01): dbt inserts into
    named columns only, so the column stays derived and never drifts. Idempotent. -#}
{% macro add_is_current_column() %}
    alter table {{ this }}
    add column if not exists is_current boolean
    generated always as (valid_to = cast('{{ var("scd2_open_end") }} 00:00:00+00' as timestamptz)) stored
{% endmacro %}
