{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        full_refresh=false,
        indexes=[
            {'columns': ['mart', 'fact', 'business_date', 'sale_date'], 'unique': true},
        ],
    )
}}

-- The batch ledger of the marts the serving views read (macros/batch_ledger.sql): per mart,
-- business date and fact day, the arrival cutoff of the fact build the mart holds. Written only by
-- the marts' post-hooks, in their transactions; this model just creates the table.
-- depends_on: {{ ref('fact_batches') }}
select
    cast(null as text) as mart,
    cast(null as text) as fact,
    cast(null as date) as business_date,
    cast(null as date) as sale_date,
    cast(null as timestamptz) as arrivals_through,
    cast(null as timestamptz) as built_at
where false
