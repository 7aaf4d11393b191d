-- Latest state of OLTP table customers: its rows of stg_cdc__latest_rows, typed.
select
    {{ cdc_columns('customers', 'row_after') }},
    changed_at as last_changed_at
from {{ ref('stg_cdc__latest_rows') }}
where source_table = 'customers'
