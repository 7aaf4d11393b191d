-- Reconciliation for the run's interval, computed from raw independently of the models' SQL:
-- every raw scan that is not voided is one fact row with its quantity, and the fact's extended
-- sales equal the raw scans priced from the raw CDC log by the unknown-item rule. Under that
-- rule the price of a scan is the one of the item's latest captured image (insert, update or
-- snapshot read) in effect at or before the scan, a delete changing nothing; 0.00 without one.
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
        item_id,
        quantity,
        scanned_at
    from raw_events
    where quantity > 0 and {{ in_interval('scanned_at') }}
    order by scan_id asc, scanned_at asc, kafka_offset asc
),

item_changes as (
    select
        cast(coalesce(after, before) ->> 'item_id' as integer) as item_id,
        op,
        cast(after ->> 'unit_price' as numeric(10, 2)) as unit_price,
        source_ts,
        cast(after ->> 'updated_at' as timestamptz) as image_updated_at,
        row_number() over (
            partition by coalesce(after, before) ->> 'item_id'
            order by source_ts, source_lsn, kafka_partition, kafka_offset
        ) as change_seq
    from {{ source('cdc', 'cdc_changes') }}
    where source_table = 'item_master' and op in ('c', 'u', 'd', 'r')
),

price_starts as (
    -- An item's first image is in effect since ever when snapshotted, else from the earlier of
    -- its commit time and its own updated_at; any later image from its commit time.
    select
        item_id,
        unit_price,
        change_seq,
        case
            when change_seq > 1 then source_ts
            when op = 'r' then cast('-infinity' as timestamptz)
            else least(source_ts, image_updated_at)
        end as price_from
    from item_changes
    where op != 'd'
),

price_periods as (
    select
        item_id,
        unit_price,
        price_from,
        coalesce(
            lead(price_from) over (partition by item_id order by change_seq),
            cast('infinity' as timestamptz)
        ) as price_to
    from price_starts
),

raw_priced as (
    select
        raw_sold.quantity,
        raw_sold.quantity * coalesce(price_periods.unit_price, 0) as extended_sales
    from raw_sold
    left join price_periods
        on
            raw_sold.item_id = price_periods.item_id
            and raw_sold.scanned_at >= price_periods.price_from
            and raw_sold.scanned_at < price_periods.price_to
    -- Not exists, not `not in`: an anti join. A day's voids (about 200,000 at full scale) do
    -- not fit a hashed `not in` subplan, and the plain one compares each scan with every void.
    where
        not exists (
            select 1 from voided
            where voided.scan_id = raw_sold.scan_id
        )
),

raw_total as (
    select
        count(*) as lines,
        coalesce(sum(quantity), 0) as quantity,
        coalesce(sum(extended_sales), 0) as extended_sales
    from raw_priced
),

fact_total as (
    select
        count(*) as lines,
        coalesce(sum(quantity), 0) as quantity,
        coalesce(sum(extended_sales), 0) as extended_sales
    from {{ ref('fct_sales') }}
    where {{ in_interval('scanned_at') }}
)

select
    raw_total.lines as raw_lines,
    fact_total.lines as fact_lines,
    raw_total.quantity as raw_quantity,
    fact_total.quantity as fact_quantity,
    raw_total.extended_sales as raw_extended_sales,
    fact_total.extended_sales as fact_extended_sales
from raw_total
cross join fact_total
where
    raw_total.lines != fact_total.lines
    or raw_total.quantity != fact_total.quantity
    or raw_total.extended_sales != fact_total.extended_sales
