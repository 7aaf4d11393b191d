{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[{'columns': ['fact', 'sale_date'], 'unique': true}],
    )
}}

-- The batch ledger of the facts (macros/batch_ledger.sql): one row per fact and UTC day, the
-- arrival cutoff of the build that holds that day. Written only by the facts' post-hooks, in
-- their transactions; this model just creates the table (no rows, never rebuilt).
select
    cast(null as text) as fact,
    cast(null as date) as sale_date,
    cast(null as timestamptz) as arrivals_through,
    cast(null as timestamptz) as built_at
where false
