{#- Where each model builds (README.md, "Schemas per target").

    The targets the platform runs, `local` (profiles.yml: `tillflow elt`, the tests) and
    `airflow` (the profile Cosmos generates for the DAG tillflow_elt_daily), build into the plain
    custom schemas (staging, intermediate, snapshots, core, marts, serving): those names are the
    warehouse's contract with its readers (the quality gates and `tillflow elt` query them).
    Every other target, e.g. `dev`, prefixes them with its own schema (`<target.schema>_core`,
    ...), so a developer's build never replaces the platform's tables. Sources (raw.*) are read
    where they are in every target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set platform_targets = ['local', 'airflow'] -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name in platform_targets -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
