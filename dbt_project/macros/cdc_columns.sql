{#- The typed columns of each captured OLTP table, in the table's order, as
    (json field, column name, type). -#}
{% macro cdc_fields(entity) -%}
    {%- set fields = {
        'item_master': [
            ('item_id', 'item_id', 'integer'),
            ('upc', 'upc', 'text'),
            ('name', 'item_name', 'text'),
            ('category_id', 'category_id', 'integer'),
            ('unit_price', 'unit_price', 'numeric(10, 2)'),
            ('frequency', 'frequency', 'double precision'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'item_categories': [
            ('category_id', 'category_id', 'integer'),
            ('name', 'category_name', 'text'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'stores': [
            ('store_id', 'store_id', 'integer'),
            ('name', 'store_name', 'text'),
            ('address', 'address', 'text'),
            ('city', 'city', 'text'),
            ('state', 'state', 'text'),
            ('postal_code', 'postal_code', 'text'),
            ('latitude', 'latitude', 'numeric(9, 6)'),
            ('longitude', 'longitude', 'numeric(9, 6)'),
            ('timezone', 'timezone', 'text'),
            ('checkstands', 'checkstands', 'smallint'),
            ('opened_on', 'opened_on', 'date'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'customers': [
            ('customer_id', 'customer_id', 'integer'),
            ('name', 'customer_name', 'text'),
            ('email', 'email', 'text'),
            ('tier', 'tier', 'text'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
        'payment_methods': [
            ('payment_method_id', 'payment_method_id', 'integer'),
            ('method', 'method', 'text'),
            ('bank', 'bank', 'text'),
            ('name', 'payment_method_name', 'text'),
            ('updated_at', 'updated_at', 'timestamptz'),
        ],
    } -%}
    {{ return(fields[entity]) }}
{%- endmacro %}

{#- The typed columns of a captured table from a jsonb row image. Debezium (JSON without schemas,
    decimal.handling.mode=string) sends numerics and timestamps as strings, and a date as days
    since the epoch or as an ISO string. -#}
{% macro cdc_columns(entity, image) -%}
    {%- for field, name, type in cdc_fields(entity) %}
        {%- if type == 'date' %}
    case
        when jsonb_typeof({{ image }} -> '{{ field }}') = 'number'
            then date '1970-01-01' + cast({{ image }} ->> '{{ field }}' as integer)
        else cast({{ image }} ->> '{{ field }}' as date)
    end as {{ name }}{{ "," if not loop.last }}
        {%- else %}
    cast({{ image }} ->> '{{ field }}' as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
