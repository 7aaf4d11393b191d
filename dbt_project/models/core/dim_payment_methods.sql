with

payment_method_history as (
    select * from {{ ref('int_payment_methods_history') }}
),

versions as (
    select
        version_key as payment_method_key,
        payment_method_id,
        method,
        bank,
        payment_method_name,
        valid_from,
        valid_to,
        is_current,
        is_deleted
    from payment_method_history
),

unknown_member as (
    select
        {{ unknown_key() }} as payment_method_key,
        -1 as payment_method_id,
        'unknown' as method,
        cast(null as text) as bank,
        'unknown' as payment_method_name,
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
