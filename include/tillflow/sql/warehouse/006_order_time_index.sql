-- The serving views' speed side reads the order events of the UTC days a mart does not cover yet
-- (dbt_project/macros/serving.sql) and the span of days raw holds: both by ordered_at.
create index if not exists orders_ordered_at on raw.orders (ordered_at);
