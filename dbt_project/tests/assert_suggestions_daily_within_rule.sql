-- The suggestion rule seen in the mart, for the run's interval: at most one suggested line per
-- suggested order, never more suggested orders than orders, and the discount given is 20-50 % of
-- the gross revenue of suggested lines (discount factor 0.50-0.80; a cent of rounding per line).
with

suggestions as (
    select * from {{ ref('suggestions_daily') }}
    where {{ in_date_interval('order_date') }}
)

select
    store_day_key,
    order_date,
    store_id,
    order_count,
    suggested_order_count,
    suggested_line_count,
    suggested_gross_revenue,
    suggestion_discount
from suggestions
where
    suggested_order_count > order_count
    or suggested_line_count != suggested_order_count
    or suggestion_discount < 0.20 * suggested_gross_revenue - 0.01 * suggested_line_count
    or suggestion_discount > 0.50 * suggested_gross_revenue + 0.01 * suggested_line_count
