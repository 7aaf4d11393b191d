{#- Day partitions for the big incremental tables (config `partitioned_by_day=true`).

    A model with this config is a table partitioned by range on its `interval_column`, one
    partition per UTC day. A run's statements (the interval's delete and insert, the tests scoped
    to the interval, the marts reading the day) then touch only the day's partitions, so a daily
    run costs the same with ten days of history as with none (`tillflow bench elt`). Without it,
    the planner saw the day as a tenth of an 11M-row table and scanned all of it.

    Postgres cannot `create table ... partition by ... as select`, so the first build stages the
    rows in a temporary table, creates the partitioned table like it, then inserts. -#}

{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- if config.get('partitioned_by_day', false) and not temporary -%}
        {{ create_day_partitioned_table_as(relation, sql) }}
    {%- else -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- endif -%}
{%- endmacro %}

{#- The day partitions `relation` needs for the rows of `rows_from` (in the build's transaction). -#}
{% macro ensure_rows_partitions(relation, rows_from) -%}
    {{ ensure_day_partitions(
        relation,
        "(select min(" ~ partition_day() ~ ") from " ~ rows_from ~ ")",
        "(select max(" ~ partition_day() ~ ") from " ~ rows_from ~ ")"
    ) }}
{%- endmacro %}

{% macro create_day_partitioned_table_as(relation, sql) -%}
    {%- set column = config.require('interval_column') -%}
    {%- set staged = relation.identifier ~ '__staged' -%}
    create temporary table {{ staged }} as (
        {{ sql }}
    );
    create table {{ relation }} (like {{ staged }}) partition by range ({{ column }});
    {{ ensure_rows_partitions(relation, staged) }};
    insert into {{ relation }} select * from {{ staged }};
    drop table {{ staged }};
{%- endmacro %}

{#- The pre-hook of a partitioned model (outside its transaction): creates the run's day
    partitions and commits. Creating a partition locks the parent table exclusively until the
    end of the transaction, so inside the model's transaction it would block every reader of the
    table (the serving views) for the whole build. Only for an interval of at most 31 days on a
    table that exists; the build's own `ensure_day_partitions` covers any other case. Run it
    through `outside_transaction`. -#}
{% macro create_interval_partitions() -%}
    {%- set existing = load_relation(this) if execute else none -%}
    {%- if existing is not none -%}
        {%- set first, last = interval_days() -%}
        {{ ensure_day_partitions(existing, first, "case when " ~ last ~ " - " ~ first ~ " <= 31 then " ~ last ~ " end") }};
        commit;
    {%- endif -%}
{%- endmacro %}

{#- The first and last UTC day (SQL date expressions) whose partitions the run's interval
    touches: its UTC days, or for a business-date column a day either side of them
    (in_business_date_interval). -#}
{% macro interval_days() -%}
    {%- set first = "(" ~ interval_start() ~ " at time zone 'UTC')::date" -%}
    {%- set last = "(" ~ interval_end() ~ " at time zone 'UTC' - interval '1 microsecond')::date" -%}
    {%- if config.get('interval_column_is_business_date', false) -%}
        {{ return(["(" ~ first ~ " - 1)", "(" ~ last ~ " + 1)"]) }}
    {%- endif -%}
    {{ return([first, last]) }}
{%- endmacro %}

{#- replace_interval on a day-partitioned table (in the model's transaction): each day partition
    the interval covers whole is exchanged for a new table holding the day's new rows; the rest
    of the interval (part of a day) is deleted and inserted as on any table.

    A delete leaves the old rows in the partition until a vacuum, and the new rows go after them:
    a rebuilt day of 39 million sales was an 18 GB partition instead of 9 GB, and every read of
    it after (the tests, the marts) read both. The new table is filled and its bounds are checked
    before the swap, so the parent is locked exclusively (the detach) only from the swap to the
    end of the model's transaction, and the attach does not scan the rows again. -#}
{% macro replace_day_partitions(target, source, dest_columns) -%}
    {%- set column = config.require('interval_column') -%}
    {%- set is_date = config.get('interval_column_is_date', false) -%}
    {%- set parent = target.include(database=false) | string -%}
    {%- set columns = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    {%- set first, last = interval_days() -%}
    {%- set day_of_row = partition_day() -%}
    {#- the same inside a quoted literal of the dynamic statements -#}
    {%- set day_of_row_quoted = day_of_row | replace("'", "''") -%}
    {%- set bounds = interval_bounds(
        column, is_date, config.get('interval_column_is_business_date', false)
    ) -%}
    do $replace$
    declare
        day date;
        child text;
        fresh text;
        low text;
        high text;
        whole date[] := '{}';
        -- rows left to delete and insert: part of a day, or a table built before partitioning
        rest boolean := (select relkind from pg_class where oid = '{{ parent }}'::regclass) != 'p';
    begin
        for day in
            select d::date from generate_series({{ first }}, {{ last }}, interval '1 day') as d
            where not rest
        loop
            {%- if not is_date %}
            -- a day the interval covers only in part keeps its partition
            if day::timestamp at time zone 'UTC' < {{ interval_start() }}
                or (day + 1)::timestamp at time zone 'UTC' > {{ interval_end() }} then
                rest := true;
                continue;
            end if;
            {%- endif %}
            child := format(
                '%s_%s_p%s', '{{ target.identifier }}', '{{ parent }}'::regclass::oid,
                to_char(day, 'YYYYMMDD')
            );
            -- none: a day without rows, old or new (the build made the partitions of its rows)
            continue when to_regclass(format('%I.%I', '{{ target.schema }}', child)) is null;
            fresh := child || '_new';
            low := day::text{% if not is_date %} || ' 00:00:00+00'{% endif %};
            high := (day + 1)::text{% if not is_date %} || ' 00:00:00+00'{% endif %};
            execute format(
                'create table %I.%I (like %s including defaults including indexes)',
                '{{ target.schema }}', fresh, '{{ parent }}'
            );
            execute format(
                'insert into %I.%I ({{ columns }}) select {{ columns }} from {{ source }}'
                ' where {{ day_of_row_quoted }} = %L',
                '{{ target.schema }}', fresh, day
            );
            execute format(
                'alter table %I.%I add constraint %I check ({{ column }} >= %L and {{ column }} < %L)',
                '{{ target.schema }}', fresh, fresh || '_bounds', low, high
            );
            execute format('analyze %I.%I', '{{ target.schema }}', fresh);
            execute format('alter table %s detach partition %I.%I', '{{ parent }}', '{{ target.schema }}', child);
            execute format('drop table %I.%I', '{{ target.schema }}', child);
            execute format('alter table %I.%I rename to %I', '{{ target.schema }}', fresh, child);
            execute format(
                'alter table %s attach partition %I.%I for values from (%L) to (%L)',
                '{{ parent }}', '{{ target.schema }}', child, low, high
            );
            execute format(
                'alter table %I.%I drop constraint %I', '{{ target.schema }}', child, fresh || '_bounds'
            );
            whole := whole || day;
        end loop;
        -- Only then: otherwise both would read the new partitions and the new rows once more
        -- to find nothing (a day's 39 million sales, twice).
        if rest then
            delete from {{ target }}
            where {{ bounds }} and not ({{ day_of_row }} = any(whole));
            insert into {{ target }} ({{ columns }})
            select {{ columns }} from {{ source }}
            where not ({{ day_of_row }} = any(whole));
        end if;
    end
    $replace$
{%- endmacro %}

{#- A pre-hook outside the model's transaction (dbt's `before_begin`) that opens a new one after
    it. dbt runs an outside hook after a plain `commit;` statement, and psycopg2 (which opens
    transactions implicitly) does not see that commit: it believes its transaction is still open
    and sends no BEGIN before the model's statements. Without the `begin`, the model's delete and
    insert would each commit on their own, and a reader between them (a serving view) would see
    the interval missing. Every outside pre-hook of the project goes through this. -#}
{% macro outside_transaction(sql) -%}
    {{ return(before_begin(sql ~ '\nbegin;')) }}
{%- endmacro %}

{#- The SQL expression of a row's UTC day from the model's interval column. -#}
{% macro partition_day(column=none) -%}
    {%- set column = column or config.require('interval_column') -%}
    {%- if config.get('interval_column_is_date', false) -%} {{ column }}
    {%- else -%} ({{ column }} at time zone 'UTC')::date
    {%- endif -%}
{%- endmacro %}

{#- Creates the missing day partitions of `relation` from day `first` to day `last` (SQL date
    expressions; nothing when either is null). A day that has its partition is skipped without
    DDL; a day another partition covers fails the create, which is skipped too. The partition's
    name carries the parent's oid, so the partitions of a full refresh's intermediate table never
    collide with the current table's. -#}
{% macro ensure_day_partitions(relation, first, last) -%}
    {%- set is_date = config.get('interval_column_is_date', false) -%}
    {%- set parent = relation.include(database=false) | string -%}
    do $partitions$
    declare
        day date;
        child text;
    begin
        if (select relkind from pg_class where oid = '{{ parent }}'::regclass) != 'p' then
            -- Built before partitioning: it still works as it is; a full refresh partitions it.
            raise notice '% is not partitioned by day; run dbt with --full-refresh', '{{ parent }}';
            return;
        end if;
        for day in
            select d::date from generate_series({{ first }}, {{ last }}, interval '1 day') as d
        loop
            child := format(
                '%s_%s_p%s', '{{ relation.identifier }}', '{{ parent }}'::regclass::oid,
                to_char(day, 'YYYYMMDD')
            );
            continue when to_regclass(format('%I.%I', '{{ relation.schema }}', child)) is not null;
            begin
                execute format(
                    'create table %I.%I partition of %s for values from (%L) to (%L)',
                    '{{ relation.schema }}',
                    child,
                    '{{ parent }}',
                    day::text{% if not is_date %} || ' 00:00:00+00'{% endif %},
                    (day + 1)::text{% if not is_date %} || ' 00:00:00+00'{% endif %}
                );
            exception when invalid_object_definition then
                null;  -- another partition of this parent already holds the day
            end;
        end loop;
    end
    $partitions$
{%- endmacro %}

{#- Drops the single-column indexes on `columns` that an earlier version of the model created
    (dbt's `indexes` config only ever adds them, at the table's creation). On a partitioned
    table, dropping the parent's index drops its partitions' too. Nothing when the table does
    not exist or holds no such index. A pre-hook through `outside_transaction`: the drop locks
    the table exclusively, for a moment, not for the whole build. -#}
{% macro drop_retired_indexes(columns) -%}
    do $retired$
    declare
        idx regclass;
    begin
        for idx in
            select i.indexrelid::regclass
            from pg_index as i
            inner join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
            where
                i.indrelid = to_regclass('{{ this.include(database=false) }}')
                and i.indnatts = 1
                and a.attname in ('{{ columns | join("', '") }}')
        loop
            execute format('drop index %s', idx);
        end loop;
    end
    $retired$;
    commit;
{%- endmacro %}
