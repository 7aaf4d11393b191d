-- The dashboards' read-only role (tillflow_reader, created by `tillflow up`) reads the orders and
-- the suggestions made for them: the Operations dashboard's suggestion latency. Nothing else of
-- OLTP. The Superset service grants the same again at each start (adapters/warehouse.py,
-- grant_reader), for a database migrated before the role existed.
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'tillflow_reader') then
        grant select on orders, order_suggestions to tillflow_reader;
    end if;
end
$$;
