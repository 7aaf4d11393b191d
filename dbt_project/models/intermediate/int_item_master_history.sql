-- SCD2 history of OLTP table item_master, built from its CDC change log (see cdc_scd2_history).
{{ cdc_scd2_history('item_master', ref('stg_cdc__changes')) }}
