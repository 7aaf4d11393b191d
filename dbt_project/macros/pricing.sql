{#- Item pricing by the unknown-item rule (business rules, "Unknown items"): each row of
    `rows_relation` (one per `row_keys`, an item in `item_column` at the instant `at_column`) gets
    the product version valid at that instant ('as_of'); failing that, the item's latest version
    that started at or before it, e.g. a deleted item ('last_known'); failing that, the unknown
    member and a price of 0.00 ('unpriced'). Adds priced_product_key, priced_unit_price and
    price_source to the rows' columns.

    Set-based: one range join for every row, then a second join only for the rows the first one
    missed (few), keeping each one's latest earlier version with DISTINCT ON. -#}
{% macro price_by_item(rows_relation, row_keys, item_column, at_column, products_relation) %}
with

as_of as (
    select
        priced_rows.*,
        products.product_key as as_of_product_key,
        products.unit_price as as_of_unit_price
    from {{ rows_relation }} as priced_rows
    left join {{ products_relation }} as products
        on
            priced_rows.{{ item_column }} = products.item_id
            and priced_rows.{{ at_column }} >= products.valid_from
            and priced_rows.{{ at_column }} < products.valid_to
),

missed as (
    select {{ row_keys | join(', ') }}, {{ item_column }}, {{ at_column }} from as_of
    where as_of_product_key is null
),

last_known as (
    select distinct on ({% for k in row_keys %}missed.{{ k }}{{ ', ' if not loop.last }}{% endfor %})
        {%- for k in row_keys %}
        missed.{{ k }},
        {%- endfor %}
        products.product_key,
        products.unit_price
    from missed
    inner join {{ products_relation }} as products
        on
            missed.{{ item_column }} = products.item_id
            and products.valid_from <= missed.{{ at_column }}
    order by
        {%- for k in row_keys %}
        missed.{{ k }} asc,
        {%- endfor %}
        products.valid_from desc
),

priced as (
    select
        as_of.*,
        coalesce(
            as_of.as_of_product_key, last_known.product_key, {{ unknown_key() }}
        ) as priced_product_key,
        coalesce(
            as_of.as_of_unit_price, last_known.unit_price, cast(0 as numeric(10, 2))
        ) as priced_unit_price,
        case
            when as_of.as_of_product_key is not null then 'as_of'
            when last_known.product_key is not null then 'last_known'
            else 'unpriced'
        end as price_source
    from as_of
    left join last_known
        on
        {%- for k in row_keys %}
            {{ 'and ' if not loop.first }}as_of.{{ k }} = last_known.{{ k }}
        {%- endfor %}
)

select * from priced
{% endmacro %}

{#- The interval's sales of both channels per UTC day, channel and one key (a product, a store):
    lines, quantity, extended sales, discount and profit. A scan carries no discount and the item
    master no cost, so a scan's profit is its extended sales (business rules, "Profit"). -#}
{% macro daily_channel_sales(key, pos_key, orders_key) %}
with

channel_lines as (
    -- Both facts as lines of one shape, then one aggregate.
    select
        sale_date,
        'pos' as channel,
        {{ pos_key }} as {{ key }},
        quantity,
        extended_sales,
        cast(0 as numeric) as extended_discount,
        extended_sales as profit
    from {{ ref('fct_sales') }}
    where {{ in_interval('scanned_at') }}
    union all
    select
        order_date as sale_date,
        'orders' as channel,
        {{ orders_key }} as {{ key }},
        quantity,
        extended_sales,
        extended_discount,
        profit
    from {{ ref('fct_order_lines') }}
    where {{ in_interval('ordered_at') }}
),

final as (
    select
        {{ surrogate_key(['sale_date', 'channel', key]) }} as {{ key | replace('_id', '') }}_day_key,
        sale_date,
        channel,
        {{ key }},
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as extended_sales,
        sum(extended_discount) as extended_discount,
        sum(profit) as profit
    from channel_lines
    group by sale_date, channel, {{ key }}
)

select * from final
{% endmacro %}

{#- The latest version of each key of an SCD2 relation (a deleted key keeps its last version). -#}
{% macro latest_versions(relation, key) %}
select distinct on ({{ key }}) *
from {{ relation }}
order by {{ key }} asc, valid_from desc
{% endmacro %}
