-- Reconciliation for the run's interval: every raw scan that is not voided is one fact row with
-- its quantity (voids resolved the same way from raw, independently of the model's SQL).
with

raw_events as (
    select * from {{ source('pos', 'pos_scans') }}
    where
        scanned_at >= {{ interval_start() }}
        and scanned_at < {{ interval_end() }} + interval '1 day'
),

voided as (
    select distinct scan_id from raw_events
    where quantity = 0
),

raw_sold as (
    select distinct on (scan_id)
        scan_id,
        quantity
    from raw_events
    where quantity > 0 and {{ in_interval('scanned_at') }}
    order by scan_id asc, scanned_at asc, kafka_offset asc
),

raw_total as (
    select
        count(*) as lines,
        coalesce(sum(quantity), 0) as quantity
    from raw_sold
    where scan_id not in (select voided.scan_id from voided)
),

fact_total as (
    select
        count(*) as lines,
        coalesce(sum(quantity), 0) as quantity
    from {{ ref('fct_sales') }}
    where {{ in_interval('scanned_at') }}
)

select
    raw_total.lines as raw_lines,
    fact_total.lines as fact_lines,
    raw_total.quantity as raw_quantity,
    fact_total.quantity as fact_quantity
from raw_total
cross join fact_total
where raw_total.lines != fact_total.lines or raw_total.quantity != fact_total.quantity
