-- Order discounts keep the OLTP's scale: a Fixed Amount discount is stored in thousands
-- (value x 1000 is the amount off, docs/business-rules.md), so values like 0.0006 are real and must land as
-- they are, not be rounded or dead-lettered. The staging view that reads the column is dropped
-- here and recreated by the next dbt run.
drop view if exists staging.stg_orders__order_lines cascade;
alter table raw.order_lines alter column discount_value type numeric(12, 4);
