-- SCD2 history of OLTP table item_categories: its versions of int_cdc__versions, typed.
select
    version_key, {{ cdc_columns('item_categories', 'row_after') }},
    valid_from, valid_to, is_current, is_deleted, change_op
from {{ ref('int_cdc__versions') }}
where source_table = 'item_categories'
