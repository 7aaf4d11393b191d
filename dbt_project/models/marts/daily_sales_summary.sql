{{
    config(
        materialized='incremental',
        incremental_strategy='replace_interval',
        interval_column='business_date',
        interval_column_is_date=true,
        interval_column_is_business_date=true,
        partitioned_by_day=true,
        pre_hook=[
            outside_transaction('{{ create_interval_partitions() }}'),
            "{{ lock_facts(['fct_sales']) }}",
        ],
        post_hook="{{ record_mart_batches(['fct_sales']) }}",
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['business_date']}],
    )
}}

-- depends_on: {{ ref('mart_batches') }}

with

sales as (
    select * from {{ ref('fct_sales') }}
    where
        {{ near_business_date_interval('scanned_at') }}
        and {{ in_business_date_interval('business_date') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

named as (
    select
        sales.store_id,
        sales.item_id,
        sales.business_date,
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
        business_date,
        (array_agg(item_name order by scanned_at desc))[1] as product,
        count(*) as scan_count,
        sum(quantity) as total_quantity,
        sum(extended_sales) as total_sales
    from named
    group by store_id, item_id, business_date
)

select * from summary
