with

daily_sales as (
    select * from {{ ref('int_daily_sales') }}
),

dates as (
    select * from {{ ref('dim_dates') }}
),

by_day_of_week as (
    select
        dates.day_of_week,
        dates.day_of_week_name,
        daily_sales.channel,
        count(distinct daily_sales.business_date) as days,
        sum(daily_sales.line_count) as line_count,
        sum(daily_sales.total_quantity) as total_quantity,
        sum(daily_sales.extended_sales) as total_sales,
        sum(daily_sales.extended_sales)
        / count(distinct daily_sales.business_date) as avg_daily_sales
    from daily_sales
    inner join dates on daily_sales.business_date = dates.date_day
    group by dates.day_of_week, dates.day_of_week_name, daily_sales.channel
)

select * from by_day_of_week
