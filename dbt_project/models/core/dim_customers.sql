with

customer_history as (
    select * from {{ ref('int_customers_history') }}
),

versions as (
    select
        version_key as customer_key,
        customer_id,
        customer_name,
        email,
        tier,
        valid_from,
        valid_to,
        is_current,
        is_deleted
    from customer_history
),

unknown_member as (
    select
        {{ unknown_key() }} as customer_key,
        -1 as customer_id,
        'unknown' as customer_name,
        'unknown' as email,
        'unknown' as tier,
        {{ unknown_member_validity() }}
)

select * from versions
union all
select * from unknown_member
