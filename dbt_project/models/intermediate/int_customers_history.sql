-- SCD2 history of OLTP table customers, built from its CDC change log (see cdc_scd2_history).
{{ cdc_scd2_history('customers', ref('stg_cdc__changes')) }}
