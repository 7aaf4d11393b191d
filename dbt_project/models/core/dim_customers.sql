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
        cast('1900-01-01' as timestamptz) as valid_from,
        {{ scd2_open_end() }} as valid_to,
        true as is_current,
        false as is_deleted
),

final as (
    select * from versions
    union all
    select * from unknown_member
)

select * from final
