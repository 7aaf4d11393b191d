-- Latest state of OLTP table payment_methods: the last change per key, unless it was a delete.
{{ cdc_latest_state('payment_methods') }}
