with

days as (
    select cast(day as date) as date_day
    from generate_series(
            cast('2020-01-01' as date),
            cast('2030-12-31' as date),
            interval '1 day'
        ) as day
),

final as (
    select
        cast(to_char(date_day, 'YYYYMMDD') as integer) as date_key,
        date_day,
        cast(extract(year from date_day) as integer) as year,
        cast(extract(quarter from date_day) as integer) as quarter,
        cast(extract(month from date_day) as integer) as month,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast(extract(isodow from date_day) as integer) as day_of_week,
        cast(extract(week from date_day) as integer) as iso_week,
        trim(to_char(date_day, 'Month')) as month_name,
        trim(to_char(date_day, 'Day')) as day_of_week_name,
        extract(isodow from date_day) in (6, 7) as is_weekend
    from days
)

select * from final
