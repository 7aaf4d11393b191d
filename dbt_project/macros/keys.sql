{#- An md5 surrogate key over the given expressions (dbt_utils.generate_surrogate_key's job). -#}
{% macro surrogate_key(expressions) -%}
    md5(concat_ws('|'{%- for e in expressions %}, coalesce(cast({{ e }} as text), '<null>'){%- endfor %}))
{%- endmacro %}

{#- The key of every dimension's explicit "unknown" member: facts point there, never to NULL. -#}
{% macro unknown_key() -%}
    '-1'
{%- endmacro %}

{% macro scd2_open_end() -%}
    cast('{{ var("scd2_open_end") }} 00:00:00+00' as timestamptz)
{%- endmacro %}

{#- The validity columns of a dimension's unknown member: always valid, never deleted. -#}
{% macro unknown_member_validity() -%}
    cast('1900-01-01' as timestamptz) as valid_from,
    {{ scd2_open_end() }} as valid_to,
    true as is_current,
    false as is_deleted
{%- endmacro %}
