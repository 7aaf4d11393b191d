{#- The discount per unit of an order line: percentage = price x pct / 100 (rounded to cents);
    fixed_amount = value x 1000 (the value is in thousands); any other type = 0. Both amounts
    are in cents (raw.order_lines.discount_value has 4 decimals: x 1000 needs at most 1). -#}
{% macro discount_per_unit(discount_type, discount_value, unit_price) -%}
    case {{ discount_type }}
        when 'percentage' then round({{ unit_price }} * {{ discount_value }} / 100, 2)
        when 'fixed_amount' then round({{ discount_value }} * 1000, 2)
        else cast(0 as numeric)
    end
{%- endmacro %}
