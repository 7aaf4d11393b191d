with

item_history as (
    select * from {{ ref('int_item_master_history') }}
),

categories as (
    select * from {{ ref('stg_cdc__item_categories') }}
),

versions as (
    select
        item_history.version_key as product_key,
        item_history.item_id,
        item_history.upc,
        item_history.item_name,
        item_history.category_id,
        coalesce(categories.category_name, 'unknown') as category_name,
        item_history.unit_price,
        item_history.valid_from,
        item_history.valid_to,
        item_history.is_current,
        item_history.is_deleted
    from item_history
    left join categories on item_history.category_id = categories.category_id
),

unknown_member as (
    select
        {{ unknown_key() }} as product_key,
        -1 as item_id,
        'unknown' as upc,
        'unknown' as item_name,
        -1 as category_id,
        'unknown' as category_name,
        cast(null as numeric(10, 2)) as unit_price,
        {{ unknown_member_validity() }}
)

select * from versions
union all
select * from unknown_member
