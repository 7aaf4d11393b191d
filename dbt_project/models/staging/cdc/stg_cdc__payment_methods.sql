-- Latest state of OLTP table payment_methods: its rows of stg_cdc__latest_rows, typed.
select
    {{ cdc_columns('payment_methods', 'row_after') }},
    changed_at as last_changed_at
from {{ ref('stg_cdc__latest_rows') }}
where source_table = 'payment_methods'
