{#- Custom schemas are used as they are (staging, snapshots, core, marts, serving), not prefixed
    with the target schema: the layers are the warehouse's public contract. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
