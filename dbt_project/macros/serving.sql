{#- The speed side of the lambda serving views: what the raw layer holds that a mart does not
    hold yet, as signed rows, by the mart's batch ledger (macros/batch_ledger.sql).

    Every unit (a scan; an order line) with an event the mart may not hold is evaluated twice
    from its raw events: `now`, from all of them, and `batched`, from those that arrived before
    the cutoff the mart's ledger gives its (business date, UTC day). The speed side is now minus
    batched, so a unit the mart holds as it is cancels out; a late scan adds; a batched scan voided
    since, or a day built before a re-delivered event, corrects. Both states are resolved by the
    facts' own rules (first event wins, a void in the day after cancels) and priced as of the
    event time from the live SCD2 history, so a unit's two states differ only by its events.

    Which units to look at: the events that arrived at or after the oldest cutoff of the UTC days
    the mart covers (read through the BRIN index on ingested_at), and the events of the days it
    does not cover (through the index on the event time). A covered day has a ledger entry for
    each of the three business dates its instants can fall on. -#}

{% macro ledger_days(mart, fact, raw_relation, time_column) %}
ledger as (
    select business_date, sale_date, arrivals_through
    from {{ ref('mart_batches') }}
    where mart = '{{ mart }}' and fact = '{{ fact }}'
),

covered_days as (
    select sale_date, min(arrivals_through) as arrivals_through
    from ledger
    where business_date between sale_date - 1 and sale_date + 1
    group by sale_date
    having count(distinct business_date) = 3
),

oldest_cutoff as (
    select coalesce(min(arrivals_through), cast('infinity' as timestamptz)) as arrivals_through
    from covered_days
),

raw_span as (
    select
        cast(min({{ time_column }}) at time zone 'UTC' as date) as first_day,
        cast(max({{ time_column }}) at time zone 'UTC' as date) as last_day
    from {{ raw_relation }}
),

-- Materialized: a handful of days (none once every day is built), so each is an index range of
-- raw; inlined, the planner joined all of raw to the days first.
uncovered_days as materialized (
    select cast(d as date) as sale_date
    from raw_span
    cross join generate_series(raw_span.first_day, raw_span.last_day, interval '1 day') as d
    where not exists (select 1 from covered_days where covered_days.sale_date = cast(d as date))
)
{% endmacro %}

{% macro scan_speed(mart) %}
with

{{ ledger_days(mart, 'fct_sales', source('pos', 'pos_scans'), 'scanned_at') }},

-- The staging view is named in each place, not as one CTE: a CTE read three times is computed
-- once in whole (all of raw), where each read alone is an index range.
touched_events as (
    select scan_events.scan_id, scan_events.scanned_at
    from {{ ref('stg_pos__scan_events') }} as scan_events
    -- A scalar subquery (one value, known before the scan) lets the planner use the index.
    where scan_events.ingested_at >= (select oldest_cutoff.arrivals_through from oldest_cutoff)
    union all
    select day_events.scan_id, day_events.scanned_at
    from uncovered_days
    -- Lateral: each day is an index range of raw (a join read all of raw first).
    cross join lateral (
        select scan_events.scan_id, scan_events.scanned_at
        from {{ ref('stg_pos__scan_events') }} as scan_events
        where
            scan_events.scanned_at >= {{ utc_midnight('uncovered_days.sale_date') }}
            and scan_events.scanned_at < {{ utc_midnight('uncovered_days.sale_date + 1') }}
        offset 0  -- keeps the subquery a parameterized index range (not pulled up into a join)
    ) as day_events
),

touched as (
    select scan_id, min(scanned_at) as first_seen
    from touched_events
    group by scan_id
),

touched_span as (
    select
        min(first_seen) - interval '1 day' as from_at,
        max(first_seen) + interval '1 day' as to_at
    from touched
),

events as (
    -- Every event of a touched scan: its duplicates and voids are minutes apart. The span's
    -- bounds (scalar subqueries) keep the read of raw to the touched days (index on scanned_at).
    select scan_events.*
    from touched
    inner join {{ ref('stg_pos__scan_events') }} as scan_events
        on
            touched.scan_id = scan_events.scan_id
            and scan_events.scanned_at >= touched.first_seen - interval '1 day'
            and scan_events.scanned_at < touched.first_seen + interval '1 day'
    where
        scan_events.scanned_at >= (select touched_span.from_at from touched_span)
        and scan_events.scanned_at < (select touched_span.to_at from touched_span)
),

stores as (
    select * from {{ ref('int_stores_history') }}
),

anchored as (
    -- The scan's first event places it: UTC day, store-local business date, ledger cutoff.
    select distinct on (events.scan_id)
        events.scan_id,
        cast(events.scanned_at at time zone 'UTC' as date) as sale_date,
        cast(events.scanned_at at time zone coalesce(stores.timezone, 'UTC') as date)
            as business_date
    from events
    {{ join_store_as_of('events', 'scanned_at') }}
    where not events.is_void
    order by
        events.scan_id asc,
        events.scanned_at asc,
        events.kafka_topic asc,
        events.kafka_partition asc,
        events.kafka_offset asc
),

{{ placed_in_ledger('anchored') }},

state_events as (
    -- The events each state sees: all of them now; those before the cutoff in the mart. The
    -- anchor's business date books both (a scan's events share its store and minute).
    select
        placed.sale_date as scan_day,
        placed.business_date,
        states.state,
        states.sign,
        events.*
    from placed
    cross join states
    inner join events on placed.scan_id = events.scan_id
    where
        states.state = 'now'
        or coalesce(events.ingested_at < placed.arrivals_through, false)
),

state_scans as (
    -- Per state: the first non-void event, unless a void of the scan's next day cancels it.
    select distinct on (scan_id, state) *
    from state_events as scans
    where
        not scans.is_void
        and not exists (
            select 1 from state_events as voids
            where
                voids.scan_id = scans.scan_id
                and voids.state = scans.state
                and voids.is_void
                and voids.scanned_at < {{ utc_midnight('scans.scan_day + 2') }}
        )
    order by scan_id, state, scanned_at, kafka_topic, kafka_partition, kafka_offset
),

products as (
    select
        version_key as product_key,
        item_id,
        item_name,
        unit_price,
        valid_from,
        valid_to
    from {{ ref('int_item_master_history') }}
),

priced as (
    {{ price_by_item('state_scans', 'item_id', 'scanned_at', 'products') | indent(4) }}
),

final as (
    select
        priced.sign,
        priced.store_id,
        priced.item_id as product_id,
        priced.business_date,
        products.item_name,
        priced.quantity,
        priced.quantity * priced.priced_unit_price as sales
    from priced
    left join products on priced.priced_product_key = products.product_key
)

select * from final
{% endmacro %}

{% macro order_line_speed(mart) %}
with

{{ ledger_days(mart, 'fct_order_lines', source('orders', 'orders'), 'ordered_at') }},

touched as (
    -- As in scan_speed, each read of staging is its own (an index range each).
    select distinct order_events.order_id
    from {{ ref('stg_orders__orders') }} as order_events
    where order_events.ingested_at >= (select oldest_cutoff.arrivals_through from oldest_cutoff)
    union
    select day_events.order_id
    from uncovered_days
    cross join lateral (
        select order_events.order_id
        from {{ ref('stg_orders__orders') }} as order_events
        where
            order_events.ordered_at >= {{ utc_midnight('uncovered_days.sale_date') }}
            and order_events.ordered_at < {{ utc_midnight('uncovered_days.sale_date + 1') }}
        offset 0
    ) as day_events
),

events as (
    select order_events.*
    from touched
    inner join {{ ref('stg_orders__orders') }} as order_events
        on touched.order_id = order_events.order_id
),

stores as (
    select * from {{ ref('int_stores_history') }}
),

headers as (
    -- As fct_order_lines: the order_created event places the order (any event failing that).
    select distinct on (events.order_id)
        events.order_id,
        cast(events.ordered_at at time zone 'UTC' as date) as sale_date,
        cast(events.ordered_at at time zone coalesce(stores.timezone, 'UTC') as date)
            as business_date
    from events
    {{ join_store_as_of('events', 'ordered_at') }}
    order by events.order_id asc, (events.event_type = 'order_created') desc, events.event_id asc
),

{{ placed_in_ledger('headers') }},

state_lines as (
    -- Per state, one line per (order, line_no): the first event's, as in fct_order_lines.
    select distinct on (order_lines.order_id, order_lines.line_no, states.state)
        states.sign,
        order_lines.*
    from placed
    cross join states
    inner join events on placed.order_id = events.order_id
    inner join {{ ref('stg_orders__order_lines') }} as order_lines
        on
            events.kafka_topic = order_lines.kafka_topic
            and events.kafka_partition = order_lines.kafka_partition
            and events.kafka_offset = order_lines.kafka_offset
            and events.event_id = order_lines.event_id
    where
        states.state = 'now'
        or (
            coalesce(events.ingested_at < placed.arrivals_through, false)
            and coalesce(order_lines.ingested_at < placed.arrivals_through, false)
        )
    order by
        order_lines.order_id asc,
        order_lines.line_no asc,
        states.state asc,
        order_lines.event_id asc,
        order_lines.kafka_offset asc
)

select * from state_lines
{% endmacro %}

{#- Each unit (rows of `anchors`: sale_date, business_date) with the mart's cutoff for its
    business date and UTC day (null: the mart holds none of it), and the two states it is
    evaluated in: now (+1) and as the mart holds it (-1). -#}
{% macro placed_in_ledger(anchors) %}
placed as (
    select {{ anchors }}.*, ledger.arrivals_through
    from {{ anchors }}
    left join ledger
        on
            {{ anchors }}.business_date = ledger.business_date
            and {{ anchors }}.sale_date = ledger.sale_date
),

states as (
    select 'now' as state, 1 as sign
    union all
    select 'batched' as state, -1 as sign
)
{% endmacro %}

{#- The store's version (its time zone) valid at each row's instant, as fct_sales joins it. -#}
{% macro join_store_as_of(rows, at_column) -%}
left join stores
        on
            {{ rows }}.store_id = stores.store_id
            and {{ rows }}.{{ at_column }} >= stores.valid_from
            and {{ rows }}.{{ at_column }} < stores.valid_to
{%- endmacro %}

{#- The instant a UTC day starts (whatever the session's time zone). -#}
{% macro utc_midnight(day) -%}
    (cast({{ day }} as timestamp) at time zone 'UTC')
{%- endmacro %}
