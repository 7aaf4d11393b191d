{#- Void resolution: one row per scan_id. The scan is the first event with a quantity above 0
    (a re-delivered duplicate is ignored); it is voided if any event of the same scan_id has
    quantity 0. `scan_filter` bounds the scans considered (by scanned_at), `void_filter` the
    void events looked at (a void follows its scan by minutes, so a day's run looks one day
    past its end).

    One sort serves both steps: window aggregates per scan_id flag the voids on every event,
    then DISTINCT ON keeps each scan's first event. (A join to the voids would be planned as an
    anti-join that PostgreSQL estimates at ~1 row, and the price join after it as a nested loop
    over the whole product dimension: minutes for a day of scans.) -#}
{% macro resolve_scan_voids(events_relation, scan_filter='true', void_filter='true') %}
with

events as (
    select * from {{ events_relation }}
),

flagged as (
    select
        events.*,
        coalesce(bool_or(is_void and {{ void_filter }}) over by_scan, false) as is_voided,
        min(case when is_void and {{ void_filter }} then scanned_at end) over by_scan as voided_at
    from events
    window by_scan as (
        partition by scan_id
        order by scanned_at asc, kafka_topic asc, kafka_partition asc, kafka_offset asc
        rows between unbounded preceding and unbounded following
    )
),

resolved as (
    select distinct on (scan_id)
        scan_id,
        store_id,
        checkstand_id,
        item_id,
        quantity,
        scanned_at,
        voided_at,
        is_voided,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
    from flagged
    where not is_void and {{ scan_filter }}
    order by scan_id asc, scanned_at asc, kafka_topic asc, kafka_partition asc, kafka_offset asc
)

select * from resolved
{% endmacro %}
