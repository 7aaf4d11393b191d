-- Latest state of OLTP table item_master: its rows of stg_cdc__latest_rows, typed.
select
    {{ cdc_columns('item_master', 'row_after') }},
    changed_at as last_changed_at
from {{ ref('stg_cdc__latest_rows') }}
where source_table = 'item_master'
