-- SCD2 history of OLTP table customers: its versions of int_cdc__versions, typed.
select
    version_key, {{ cdc_columns('customers', 'row_after') }},
    valid_from, valid_to, is_current, is_deleted, change_op
from {{ ref('int_cdc__versions') }}
where source_table = 'customers'
