-- SCD2 history of OLTP table stores, built from its CDC change log (see cdc_scd2_history).
{{ cdc_scd2_history('stores', ref('stg_cdc__changes')) }}
