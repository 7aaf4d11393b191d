{#- Views are replaced in place (`create or replace view`), never renamed and dropped.

    dbt's default view materialization builds a new view, renames the old one away and drops it
    with CASCADE: every view that reads it (the serving views read the staging and history
    views) vanished until its own model ran again, for good if the run failed before that. In
    place, a view keeps its identity, its dependents and its grants, and readers never see it
    missing. Only a change PostgreSQL cannot make in place (a column renamed, dropped or
    retyped) falls back to drop ... cascade and create; the dependents' own models recreate them
    in the same run. -#}
{%- materialization view, adapter='postgres' -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {%- if existing_relation is not none and not existing_relation.is_view %}
        {{ drop_relation_if_exists(existing_relation) }}
    {%- endif %}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% call statement('main') -%}
        {{ replace_view_in_place(target_relation, sql) }}
    {%- endcall %}

    {%- set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}

{% macro replace_view_in_place(relation, sql) -%}
    do $tillflow_view$
    begin
        execute $tillflow_sql$ create or replace view {{ relation }} as {{ sql }} $tillflow_sql$;
    exception when invalid_table_definition then
        -- "cannot drop / change name of / change data type of view column"
        execute $tillflow_sql$ drop view if exists {{ relation }} cascade $tillflow_sql$;
        execute $tillflow_sql$ create view {{ relation }} as {{ sql }} $tillflow_sql$;
    end
    $tillflow_view$
{%- endmacro %}
