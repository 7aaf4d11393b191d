with

store_history as (
    select * from {{ ref('int_stores_history') }}
),

versions as (
    select
        version_key as store_key,
        store_id,
        store_name,
        address,
        city,
        state,
        postal_code,
        latitude,
        longitude,
        timezone,
        checkstands,
        opened_on,
        valid_from,
        valid_to,
        is_current,
        is_deleted
    from store_history
),

unknown_member as (
    select
        {{ unknown_key() }} as store_key,
        -1 as store_id,
        'unknown' as store_name,
        'unknown' as address,
        'unknown' as city,
        '??' as state,
        'unknown' as postal_code,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        'UTC' as timezone,
        cast(null as smallint) as checkstands,
        cast(null as date) as opened_on,
        {{ unknown_member_validity() }}
)

select * from versions
union all
select * from unknown_member
