-- Latest state of OLTP table customers: the last change per key, unless it was a delete.
{{ cdc_latest_state('customers') }}
