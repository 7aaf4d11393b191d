-- Latest state of OLTP table item_categories: its rows of stg_cdc__latest_rows, typed.
select
    {{ cdc_columns('item_categories', 'row_after') }},
    changed_at as last_changed_at
from {{ ref('stg_cdc__latest_rows') }}
where source_table = 'item_categories'
