{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='sale_date',
        interval_column_is_date=true,
        partitioned_by_day=true,
        pre_hook=before_begin('{{ create_interval_partitions() }}'),
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['sale_date']}],
    )
}}

with

sales as (
    select * from {{ ref('fct_sales') }}
    where {{ in_interval('scanned_at') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

named as (
    select
        sales.store_id,
        sales.item_id,
        sales.sale_date,
        sales.scanned_at,
        sales.quantity,
        sales.extended_sales,
        products.item_name
    from sales
    inner join products on sales.product_key = products.product_key
),

summary as (
    select
        store_id,
        item_id as product_id,
        sale_date,
        (array_agg(item_name order by scanned_at desc))[1] as product,
        count(*) as scan_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as total_sales
    from named
    group by store_id, item_id, sale_date
)

select * from summary
