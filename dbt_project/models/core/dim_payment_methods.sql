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
        {{ unknown_member_validity() }}
)

select * from versions
union all
select * from unknown_member
