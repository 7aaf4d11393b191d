{#- The batch ledger: what the facts and the marts hold, by arrival.

    A fact build for a UTC day holds exactly the raw rows of that day that arrived (ingested_at)
    before the build's arrival cutoff; it records (fact, sale_date, cutoff) in core.fact_batches
    in the same transaction as its rows. A mart build copies, for every business date it
    replaces, the cutoffs of the fact days it read into core.mart_batches, again in the same
    transaction as its rows, under a SHARE lock on the facts so they cannot change in between.
    The serving views read the ledger: a raw row is in a mart exactly when the mart's ledger has
    its (business date, UTC day) with a cutoff after the row's arrival. Anything else is not
    batched yet, and the speed side adds it (or takes back a batched row voided since). -#}

{#- The arrival cutoff of this build: what the daily DAG and `tillflow elt` pass (the start of the
    oldest open write transaction, jobs/elt/late_days.py); a bare `dbt build` uses the start of
    its own invocation. -#}
{% macro arrivals_through() -%}
    {%- set given = var('arrivals_through', '') -%}
    cast('{{ given if given else run_started_at.isoformat() }}' as timestamptz)
{%- endmacro %}

{#- A raw row the build may hold: it arrived before the cutoff (a row without an arrival time, as
    in dbt unit tests, counts as arrived). -#}
{% macro arrived(column='ingested_at') -%}
    (not coalesce({{ column }} >= {{ arrivals_through() }}, false))
{%- endmacro %}

{#- Post-hook of a fact (inside its transaction): the UTC days it replaced, with the cutoff. Days
    are clipped to the raw rows' span and the cutoff's day, so a hand build of all history
    records the days it has, not 200 years. -#}
{% macro record_fact_batches(raw_relation, time_column) -%}
    delete from {{ ref('fact_batches') }}
    where fact = '{{ this.identifier }}' and {{ in_date_interval('sale_date') }};
    insert into {{ ref('fact_batches') }} (fact, sale_date, arrivals_through, built_at)
    select '{{ this.identifier }}', cast(d as date), {{ arrivals_through() }}, now()
    from generate_series(
        greatest(
            cast({{ interval_start() }} at time zone 'UTC' as date),
            (select cast(min({{ time_column }}) at time zone 'UTC' as date) from {{ raw_relation }})
        ),
        least(
            cast({{ interval_end() }} at time zone 'UTC' as date) - 1,
            cast({{ arrivals_through() }} at time zone 'UTC' as date)
        ),
        interval '1 day'
    ) as d
{%- endmacro %}

{#- Pre-hook of a mart (inside its transaction): no fact may change between the mart's read and
    its ledger rows. -#}
{% macro lock_facts(facts) -%}
    {%- for fact in facts %}
    lock table {{ ref(fact) }} in share mode;
    {%- endfor %}
{%- endmacro %}

{#- Post-hook of a mart (inside its transaction): for each business date it replaced, the fact
    days it can hold rows of (one either side) with their cutoffs. A full refresh forgets the
    mart's older entries first. -#}
{% macro record_mart_batches(facts) -%}
    {%- if flags.FULL_REFRESH %}
    delete from {{ ref('mart_batches') }} where mart = '{{ this.identifier }}';
    {%- endif %}
    delete from {{ ref('mart_batches') }}
    where mart = '{{ this.identifier }}' and {{ in_business_date_interval('business_date') }};
    insert into {{ ref('mart_batches') }}
        (mart, fact, business_date, sale_date, arrivals_through, built_at)
    select '{{ this.identifier }}', f.fact, cast(b as date), f.sale_date, f.arrivals_through, now()
    from {{ ref('fact_batches') }} as f
    inner join generate_series(
        cast({{ interval_start() }} at time zone 'UTC' as date) - 1,
        cast({{ interval_end() }} at time zone 'UTC' as date),
        interval '1 day'
    ) as b
        on f.sale_date between cast(b as date) - 1 and cast(b as date) + 1
    where f.fact in ({% for fact in facts %}'{{ fact }}'{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}
