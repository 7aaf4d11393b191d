{#- Item pricing by the unknown-item rule (business rules, "Unknown items"): each row of
    `rows_relation` (an item in `item_column` at the instant `at_column`) gets the product version
    valid at that instant ('as_of'); failing that, the item's latest version that started at or
    before it, e.g. a deleted item ('last_known'); failing that, the unknown member and a price of
    0.00 ('unpriced'). Adds priced_product_key, priced_unit_price and price_source to the rows'
    columns.

    One range join, no second pass: each version is stretched until the next version of its
    item starts (for ever for the last one), so the stretched versions tile time from an item's
    first version on and the one containing the instant is the latest version that started
    before it; inside its own validity it is the as-of version, after it the last known. -#}
{% macro price_by_item(rows_relation, item_column, at_column, products_relation) %}
with

stretched_versions as (
    select
        product_key,
        item_id,
        unit_price,
        valid_from,
        valid_to,
        coalesce(
            lead(valid_from) over (partition by item_id order by valid_from),
            cast('infinity' as timestamptz)
        ) as known_until
    from {{ products_relation }}
),

priced as (
    select
        priced_rows.*,
        coalesce(stretched_versions.product_key, {{ unknown_key() }}) as priced_product_key,
        coalesce(stretched_versions.unit_price, cast(0 as numeric(10, 2))) as priced_unit_price,
        case
            when stretched_versions.product_key is null then 'unpriced'
            when priced_rows.{{ at_column }} < stretched_versions.valid_to then 'as_of'
            else 'last_known'
        end as price_source
    from {{ rows_relation }} as priced_rows
    left join stretched_versions
        on
            priced_rows.{{ item_column }} = stretched_versions.item_id
            and priced_rows.{{ at_column }} >= stretched_versions.valid_from
            and priced_rows.{{ at_column }} < stretched_versions.known_until
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
