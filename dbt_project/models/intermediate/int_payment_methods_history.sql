-- SCD2 history of OLTP table payment_methods, built from its CDC change log (see cdc_scd2_history).
{{ cdc_scd2_history('payment_methods', ref('stg_cdc__changes')) }}
